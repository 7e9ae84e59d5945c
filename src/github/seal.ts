/**
 * GitHub accepts secret values only as a libsodium sealed box for the target's
 * public key: anonymous sender, so only GitHub can open it.
 */
import sodium from 'libsodium-wrappers';

/** The base64 sealed box of `value`, or null when `publicKey` is not a base64 X25519 public key. */
export async function sealForGitHub(publicKey: string, value: string): Promise<string | null> {
  await sodium.ready;
  let key: Uint8Array;
  try {
    key = sodium.from_base64(publicKey, sodium.base64_variants.ORIGINAL);
  } catch {
    return null;
  }
  if (key.length !== sodium.crypto_box_PUBLICKEYBYTES) return null;
  const sealed = sodium.crypto_box_seal(sodium.from_string(value), key);
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}
