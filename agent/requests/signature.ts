/** Ed25519 checks for keys and signatures that travel as base64url (PROTOCOL.md "Conventions"). */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

const B64URL = /^[A-Za-z0-9_-]+$/;

function rawBytes(text: string, length: number, what: string): Buffer {
  const bytes = B64URL.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== length) throw new Error(`${what} is not ${length} bytes of base64url`);
  return bytes;
}

/** A raw 32-byte Ed25519 public key in base64url, as a KeyObject (through JWK, which takes raw keys). */
export function ed25519PublicKey(publicKey: string): KeyObject {
  rawBytes(publicKey, 32, 'public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
}

/** True when `signature` (base64url) is the holder of `publicKey`'s signature over `message`. */
export function verifyEd25519(publicKey: string, message: Buffer, signature: string): boolean {
  return verify(null, message, ed25519PublicKey(publicKey), rawBytes(signature, 64, 'signature'));
}

/** First 16 hex characters of SHA-256 over the raw public-key bytes. */
export function keyIdOf(publicKey: string): string {
  return createHash('sha256').update(rawBytes(publicKey, 32, 'public key')).digest('hex').slice(0, 16);
}
