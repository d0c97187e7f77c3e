/**
 * The owner's two keys: Ed25519 to sign decisions, X25519 (an age identity) to open what the device
 * seals to it. WebCrypto where the browser has the algorithm (private keys non-extractable);
 * otherwise (an older browser, or a page served over plain http, which gets no `crypto.subtle`)
 * @noble/ed25519 and age-encryption's audited software X25519, with the private key bytes kept in
 * IndexedDB. Either way the private keys never leave the phone.
 */
import * as noble from '@noble/ed25519';
import { x25519 } from '@noble/curves/ed25519.js';
import { bech32 } from '@scure/base';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { sha512 } from '@noble/hashes/sha2.js';
import { hasWebCrypto, sha256 } from './digest.js';
import { hex, type Bytes } from './encoding.js';

// noble's synchronous API hashes with this, so software keys work without `crypto.subtle`.
noble.hashes.sha512 = sha512;

/** What IndexedDB holds: a structured clone of the key material. */
export type StoredKey =
  | { kind: 'webcrypto'; privateKey: CryptoKey; publicKeyRaw: Bytes }
  | { kind: 'noble'; secretKey: Bytes; publicKeyRaw: Bytes };

/** The sealing key as IndexedDB holds it: a non-extractable WebCrypto X25519 key, or an `AGE-SECRET-KEY-1…` string. */
export type StoredSealingKey = { kind: 'webcrypto'; privateKey: CryptoKey } | { kind: 'age'; identity: string };

/** Both keys of one phone, and the public half of the sealing key as an age recipient (`age1…`). */
export interface StoredOwnerKeys {
  signing: StoredKey;
  sealing: StoredSealingKey;
  sealingRecipient: string;
}

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

export async function generateOwnerKeys(): Promise<StoredOwnerKeys> {
  const sealing = await generateSealingKey();
  return { signing: await generateOwnerKey(), sealing, sealingRecipient: await sealingRecipientOf(sealing) };
}

/**
 * age-encryption derives a recipient through WebCrypto first and falls back only on ReferenceError or
 * NotSupportedError; a page without `crypto.subtle` throws TypeError, so a software identity's
 * recipient is computed here with the same audited pieces age uses (@noble/curves, @scure/base).
 */
async function sealingRecipientOf(stored: StoredSealingKey): Promise<string> {
  if (stored.kind === 'webcrypto' || hasWebCrypto()) return identityToRecipient(sealingIdentity(stored));
  const secret = bech32.decodeToBytes(stored.identity);
  return bech32.encodeFromBytes('age', x25519.getPublicKey(secret.bytes));
}

/** What age-encryption's Decrypter.addIdentity takes for this phone's sealing key. */
export function sealingIdentity(stored: StoredSealingKey): string | CryptoKey {
  return stored.kind === 'webcrypto' ? stored.privateKey : stored.identity;
}

async function generateSealingKey(): Promise<StoredSealingKey> {
  if (hasWebCrypto()) {
    try {
      const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
      return { kind: 'webcrypto', privateKey: pair.privateKey };
    } catch (err) {
      // Browsers without WebCrypto X25519 (Safari before 17, Chromium before 133) use the software key.
      if (!(err instanceof DOMException && err.name === 'NotSupportedError') && !(err instanceof TypeError)) throw err;
    }
  }
  return { kind: 'age', identity: await generateX25519Identity() };
}

async function generateOwnerKey(): Promise<StoredKey> {
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
