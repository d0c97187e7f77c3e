/**
 * Ed25519 and base64url with Node's built-in crypto only. Raw 32-byte public keys travel on the wire;
 * KeyObjects are made from them through JWK, which Node accepts without any DER wrapping.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  verify,
  type KeyObject,
} from 'node:crypto';

const B64URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

export function b64urlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes unpadded base64url; undefined for anything else. Node's decoder silently skips bad
 * characters and ignores stray trailing bits, so the text must also be the canonical encoding of
 * what it decodes to: one byte string, one spelling.
 */
export function parseB64url(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !B64URL_ALPHABET.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

export function b64urlDecode(text: string): Buffer {
  const bytes = parseB64url(text);
  if (!bytes) throw new TypeError(`not canonical unpadded base64url: ${JSON.stringify(text.slice(0, 40))}`);
  return bytes;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** PROTOCOL.md: the first 16 hex characters of SHA-256 over the 32 raw public-key bytes. */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  if (rawPublicKey.length !== 32) throw new TypeError(`an Ed25519 public key has 32 bytes, not ${rawPublicKey.length}`);
  return sha256Hex(rawPublicKey).slice(0, 16);
}

export function publicKeyFromRaw(rawPublicKey: Uint8Array): KeyObject {
  if (rawPublicKey.length !== 32) throw new TypeError(`an Ed25519 public key has 32 bytes, not ${rawPublicKey.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64urlEncode(rawPublicKey) }, format: 'jwk' });
}

/** The 32 raw public-key bytes of an Ed25519 public or private KeyObject. */
export function rawFromPublicKey(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  return b64urlDecode(String(jwk.x));
}

/** Imported keys by their bytes: importing costs OpenSSL more than a verification does. */
const importedKeys = new Map<string, KeyObject>();
const MAX_IMPORTED_KEYS = 256;

function importedKey(rawPublicKey: Uint8Array): KeyObject {
  const id = Buffer.from(rawPublicKey).toString('hex');
  let key = importedKeys.get(id);
  if (!key) {
    key = publicKeyFromRaw(rawPublicKey);
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.clear();
    importedKeys.set(id, key);
  }
  return key;
}

/** False, never an exception, for a malformed key or signature: the caller only needs yes or no. */
export function verifyEd25519(rawPublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (rawPublicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, importedKey(rawPublicKey), signature);
  } catch {
    // OpenSSL rejects some 32-byte strings as keys; for a verifier that is simply "not valid".
    return false;
  }
}

export interface OwnerKeyPair {
  privateKey: KeyObject;
  publicKeyRaw: Buffer;
  keyId: string;
}

/**
 * A new Ed25519 key pair. The generator encodes both keys itself and the private KeyObject is made
 * from those bytes: on Node 20, exporting a KeyObject the generator returned can deadlock, when
 * garbage collection frees the generation job in the middle of the export and both wait for the
 * key's lock (seen once: a test agent hung for good in DeviceKey.start, creating its key).
 */
export function generateOwnerKey(): OwnerKeyPair {
  const { privateKey: pkcs8, publicKey: spki } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  });
  const publicKeyRaw = rawFromPublicKey(createPublicKey({ key: spki, format: 'der', type: 'spki' }));
  return { privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), publicKeyRaw, keyId: keyIdOf(publicKeyRaw) };
}

/** Writes a PKCS#8 PEM readable by its owner only; an existing file is never replaced. */
export function writeKeyFile(path: string, privateKey: KeyObject): void {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('writeKeyFile expects an Ed25519 private key');
  }
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} already exists; not overwriting a key file`);
    throw err;
  }
  try {
    fchmodSync(fd, 0o600); // the umask may have removed bits, never added them; make the mode exact anyway
    writeFileSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readKeyFile(path: string): OwnerKeyPair {
  const pem = readFileSync(path);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${path} is not a private key in PEM or DER form (${(err as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${path} holds a key of type ${privateKey.asymmetricKeyType ?? 'unknown'}; expected an Ed25519 private key`);
  }
  const publicKeyRaw = rawFromPublicKey(privateKey);
  return { privateKey, publicKeyRaw, keyId: keyIdOf(publicKeyRaw) };
}
