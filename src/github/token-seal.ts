/**
 * Seals GitHub user tokens (and device codes) for the database: AES-256-GCM
 * under a key derived with HKDF-SHA256 from a secret the operator holds and
 * the database does not (the bot passes SLACK_BOT_TOKEN). A copy of the
 * database alone opens nothing; changing that secret means people run
 * `/jamjet github connect` again.
 *
 * Layout of a sealed value: version byte 1, 16-byte salt, 12-byte IV,
 * 16-byte GCM tag, ciphertext. The Slack user id is the additional data, so a
 * sealed token copied onto another person's row does not open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const INFO = 'jamjet github user token v1';

export interface TokenSealer {
  seal(plaintext: string, owner: string): Buffer;
  /** null when the value was sealed under another secret or for another owner, or was tampered with. */
  open(sealed: Buffer, owner: string): string | null;
}

/** A sealer whose keys derive from `secret` (must not be empty). */
export function createTokenSealer(secret: string): TokenSealer {
  if (!secret) throw new Error('a token sealer needs a secret');
  const keyFor = (salt: Buffer) => Buffer.from(hkdfSync('sha256', secret, salt, INFO, 32));
  return {
    seal(plaintext, owner) {
      const salt = randomBytes(16);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keyFor(salt), iv);
      cipher.setAAD(Buffer.from(owner, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), salt, iv, cipher.getAuthTag(), body]);
    },
    open(sealed, owner) {
      if (sealed.length < 45 || sealed[0] !== VERSION) return null;
      const salt = sealed.subarray(1, 17);
      const iv = sealed.subarray(17, 29);
      const tag = sealed.subarray(29, 45);
      try {
        const decipher = createDecipheriv('aes-256-gcm', keyFor(salt), iv);
        decipher.setAAD(Buffer.from(owner, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(sealed.subarray(45)), decipher.final()]).toString('utf8');
      } catch {
        return null;
      }
    },
  };
}
