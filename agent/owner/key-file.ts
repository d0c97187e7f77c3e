/**
 * An owner's two private keys in one file (mode 0600), for the terminal tools: the Ed25519 signing
 * key as PKCS#8 PEM, then the X25519 sealing key as an age identity line. `age -d -i` reads the same
 * file once the PEM block is removed; the public halves are what `doorbell owner add` enrolls.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { newSealingIdentity, recipientOf, type Signer } from '../envelope/index.js';
import { b64urlEncode, generateOwnerKey, keyIdOf, rawFromPublicKey } from './crypto.js';
import { writePrivate } from '../store/private-file.js';

export interface OwnerKeyFile {
  keyId: string;
  privateKey: KeyObject;
  /** Base64url of the 32 raw Ed25519 public-key bytes. */
  signingKey: string;
  /** `AGE-SECRET-KEY-1…` */
  identity: string;
  /** `age1…` */
  sealingRecipient: string;
  signer: Signer;
}

const PEM = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/;

export async function generateOwnerKeyFile(path: string): Promise<OwnerKeyFile> {
  const ed = generateOwnerKey();
  const { identity } = await newSealingIdentity();
  const pem = ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    writePrivate(path, `# doorbell owner keys: keep this file secret\n${pem}${identity}\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} already exists; not overwriting a key file`);
    throw err;
  }
  return readOwnerKeyFile(path);
}

export async function readOwnerKeyFile(path: string): Promise<OwnerKeyFile> {
  const text = readFileSync(path, 'utf8');
  const pem = PEM.exec(text)?.[0];
  if (!pem) throw new Error(`${path} holds no Ed25519 private key (PEM); make one with doorbell owner keygen`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${path} holds a PEM block that is not a private key (${(err as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${path} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  const identity = text.split('\n').map((l) => l.trim()).find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (!identity) throw new Error(`${path} holds no sealing key (AGE-SECRET-KEY-1…); make a new file with doorbell owner keygen`);
  return ownerKeyFrom(privateKey, identity);
}

/** An owner's keys from their private halves (an Ed25519 KeyObject and an age identity). */
export async function ownerKeyFrom(privateKey: KeyObject, identity: string): Promise<OwnerKeyFile> {
  const raw = rawFromPublicKey(privateKey);
  const keyId = keyIdOf(raw);
  return {
    keyId,
    privateKey,
    signingKey: b64urlEncode(raw),
    identity,
    sealingRecipient: await recipientOf(identity),
    signer: { keyId, sign: (message) => new Uint8Array(sign(null, message, privateKey)) },
  };
}
