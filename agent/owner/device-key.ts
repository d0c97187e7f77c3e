/**
 * The device's own keys, beside the database they vouch for: an Ed25519 key (signs everything the
 * device sends, evidence manifests and the audit log) and an X25519 age identity (owners seal their
 * decisions to it). The public halves are also written to a world-readable file, so the CLI on the
 * device can check the device's signatures without reading a private key.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { createFileAtomically, ensurePrivateMode, writePrivate } from '../store/private-file.js';
import { newSealingIdentity, type Signer } from '../envelope/index.js';
import { b64urlEncode, generateOwnerKey, readKeyFile, writeKeyFile } from './crypto.js';
import { X25519Identity } from './age-x25519.js';

export const DEVICE_KEY_FILE = 'device-key.pem';
export const DEVICE_AGE_FILE = 'device-age.key';
export const DEVICE_PUBLIC_FILE = 'device-public.json';

export interface DeviceKeyDeps {
  /** `storage.dir`: the keys live beside the database they vouch for. */
  dir: string;
  log: Logger;
}

/** What anyone may know about the device's keys (`device-public.json`). */
export interface DevicePublicKeys {
  keyId: string;
  /** Base64url of the 32 raw Ed25519 bytes. */
  signingKey: string;
  /** The X25519 age recipient (`age1…`). */
  sealingRecipient: string;
}

interface Loaded {
  privateKey: KeyObject;
  publicKey: string;
  keyId: string;
  identity: X25519Identity;
}

export class DeviceKey {
  private loaded: Loaded | undefined;

  constructor(private readonly deps: DeviceKeyDeps) {}

  get path(): string {
    return join(this.deps.dir, DEVICE_KEY_FILE);
  }

  get agePath(): string {
    return join(this.deps.dir, DEVICE_AGE_FILE);
  }

  /** Loads the keys, creating each on the very first start. */
  async start(): Promise<void> {
    mkdirSync(this.deps.dir, { recursive: true });
    if (!existsSync(this.path)) this.create(this.path, (temp) => writeKeyFile(temp, generateOwnerKey().privateKey));
    if (!existsSync(this.agePath)) {
      const { identity } = await newSealingIdentity();
      this.create(this.agePath, (temp) => writePrivate(temp, `${identity}\n`));
    }
    for (const file of [this.path, this.agePath]) ensurePrivateMode(file, 'device key file', this.deps.log);
    const { privateKey, publicKeyRaw, keyId } = readKeyFile(this.path);
    const identity = new X25519Identity(readAgeIdentity(this.agePath));
    this.loaded = { privateKey, publicKey: b64urlEncode(publicKeyRaw), keyId, identity };
    this.writePublicFile();
    this.deps.log.info('device key loaded', { keyId });
  }

  /** Base64url Ed25519 signature over `message`. */
  sign(message: Buffer): string {
    return b64urlEncode(sign(null, message, this.key().privateKey));
  }

  /** The device as the author of protocol v2 messages. */
  get signer(): Signer {
    const { privateKey, keyId } = this.key();
    return { keyId, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
  }

  /** Base64url of the 32 raw public-key bytes. */
  get publicKey(): string {
    return this.key().publicKey;
  }

  get keyId(): string {
    return this.key().keyId;
  }

  /** The device's age identity: opens what owners seal to the device. */
  get identity(): X25519Identity {
    return this.key().identity;
  }

  /** The device's age recipient (`age1…`): owners seal decisions to it. */
  get sealingRecipient(): string {
    return this.key().identity.recipient;
  }

  get publicKeys(): DevicePublicKeys {
    return { keyId: this.keyId, signingKey: this.publicKey, sealingRecipient: this.sealingRecipient };
  }

  private key(): Loaded {
    if (!this.loaded) throw new Error('DeviceKey used before start()');
    return this.loaded;
  }

  private writePublicFile(): void {
    const file = join(this.deps.dir, DEVICE_PUBLIC_FILE);
    const text = `${JSON.stringify({ v: 2, ...this.publicKeys }, null, 2)}\n`;
    if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
    this.create(file, (temp) => writeFileSync(temp, text, { mode: 0o644 }));
  }

  private create(path: string, write: (temp: string) => void): void {
    createFileAtomically(path, write);
    this.deps.log.info('device key file created', { path });
  }
}

/** Reads `device-public.json` from a storage folder: the device's public keys, for the CLI. */
export function readDevicePublicKeys(dir: string): DevicePublicKeys | undefined {
  const file = join(dir, DEVICE_PUBLIC_FILE);
  if (!existsSync(file)) return undefined;
  const json = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevicePublicKeys>;
  if (typeof json.keyId !== 'string' || typeof json.signingKey !== 'string' || typeof json.sealingRecipient !== 'string') {
    throw new Error(`${file} is not a device public key file`);
  }
  return { keyId: json.keyId, signingKey: json.signingKey, sealingRecipient: json.sealingRecipient };
}

/** The first `AGE-SECRET-KEY-1…` line of a file (age identity files allow comments and blank lines). */
export function readAgeIdentity(path: string): string {
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (!line) throw new Error(`${path} holds no age X25519 identity (AGE-SECRET-KEY-1…)`);
  return line;
}
