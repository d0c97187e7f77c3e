/**
 * The owner's Ed25519 key. WebCrypto where the browser has Ed25519 (private key non-extractable);
 * otherwise (an older browser, or a page served over plain http, which gets no `crypto.subtle`)
 * @noble/ed25519 (audited, no dependencies) with the private key bytes kept in IndexedDB.
 * Either way the private key never leaves the phone.
 */
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { hasWebCrypto, sha256 } from './digest.js';
import { hex, type Bytes } from './encoding.js';

// noble's synchronous API hashes with this, so software keys work without `crypto.subtle`.
noble.hashes.sha512 = sha512;

/** What IndexedDB holds: a structured clone of the key material. */
export type StoredKey =
  | { kind: 'webcrypto'; privateKey: CryptoKey; publicKeyRaw: Bytes }
  | { kind: 'noble'; secretKey: Bytes; publicKeyRaw: Bytes };

export interface OwnerKey {
  keyId: string;
  publicKeyRaw: Bytes;
  kind: StoredKey['kind'];
  sign(message: Bytes): Promise<Bytes>;
}

/** PROTOCOL.md: the first 16 hex characters of SHA-256 over the 32 raw public-key bytes. */
export async function keyIdOf(publicKeyRaw: Bytes): Promise<string> {
  return hex(await sha256(publicKeyRaw)).slice(0, 16);
}

/** `9f86 d081 884c 7d65`: a keyId grouped so a person can read it aloud and compare it. */
export function fingerprint(keyId: string): string {
  return keyId.replace(/(.{4})(?=.)/g, '$1 ');
}

export async function generateOwnerKey(): Promise<StoredKey> {
  const pair = await webCryptoKeyPair();
  if (pair) {
    const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    return { kind: 'webcrypto', privateKey: pair.privateKey, publicKeyRaw };
  }
  const secretKey = noble.utils.randomSecretKey() as Bytes;
  return { kind: 'noble', secretKey, publicKeyRaw: noble.getPublicKey(secretKey) as Bytes };
}

/** Undefined when this page has no WebCrypto, or its WebCrypto has no Ed25519 (Chromium before 137, older Safari). */
async function webCryptoKeyPair(): Promise<CryptoKeyPair | undefined> {
  if (!hasWebCrypto()) return undefined;
  try {
    return (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NotSupportedError') return undefined;
    if (err instanceof TypeError) return undefined;
    throw err;
  }
}

export async function ownerKey(stored: StoredKey): Promise<OwnerKey> {
  const keyId = await keyIdOf(stored.publicKeyRaw);
  if (stored.kind === 'webcrypto' && !hasWebCrypto()) {
    throw new Error('this phone’s key lives in WebCrypto, which this page cannot reach: open the app over HTTPS as when it was paired');
  }
  const sign =
    stored.kind === 'webcrypto'
      ? async (message: Bytes) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, stored.privateKey, message))
      : async (message: Bytes) => noble.sign(message, stored.secretKey) as Bytes;
  return { keyId, publicKeyRaw: stored.publicKeyRaw, kind: stored.kind, sign };
}

/** False, never an exception, for a malformed key or signature. */
export async function verifyEd25519(publicKeyRaw: Bytes, message: Bytes, signature: Bytes): Promise<boolean> {
  if (publicKeyRaw.length !== 32 || signature.length !== 64) return false;
  if (hasWebCrypto()) {
    try {
      const key = await crypto.subtle.importKey('raw', publicKeyRaw, { name: 'Ed25519' }, false, ['verify']);
      return await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'NotSupportedError') && !(err instanceof TypeError)) return false;
    }
  }
  try {
    return noble.verify(signature, message, publicKeyRaw);
  } catch {
    // noble throws on bytes that are not a curve point: for a verifier that is simply "not valid".
    return false;
  }
}
