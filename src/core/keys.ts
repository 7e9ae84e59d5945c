/** The JamJet API key format: `jj_` + 32 lowercase hex, stored only as SHA-256. */
import { createHash, randomBytes } from 'node:crypto';

export const KEY_PATTERN = /^jj_[0-9a-f]{32}$/;

export function mintKey(): string {
  return `jj_${randomBytes(16).toString('hex')}`;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** `jj_1a2b…9f0e`: enough to recognise a key, far too little to use it. */
export function displayKey(key: string): string {
  return `${key.slice(0, 7)}…${key.slice(-4)}`;
}

/** The id people type to name a key: `key_` + 8 hex. */
export function newKeyId(): string {
  return `key_${randomBytes(4).toString('hex')}`;
}

export const KEY_ID_PATTERN = /^key_[0-9a-f]{8}$/;
