/** The device's own Ed25519 key: it signs evidence manifests and the audit log's transparency head. */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, chmodSync } from 'node:fs';
import { sign, type KeyObject } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { b64urlEncode, generateOwnerKey, readKeyFile, writeKeyFile } from './crypto.js';

export const DEVICE_KEY_FILE = 'device-key.pem';

export interface DeviceKeyDeps {
  /** `storage.dir`: the key lives beside the database it vouches for. */
  dir: string;
  log: Logger;
}

interface Loaded {
  privateKey: KeyObject;
  publicKey: string;
  keyId: string;
}

export class DeviceKey {
  private loaded: Loaded | undefined;

  constructor(private readonly deps: DeviceKeyDeps) {}

  get path(): string {
    return join(this.deps.dir, DEVICE_KEY_FILE);
  }

  /** Loads the key, creating it on the very first start. */
  start(): void {
    if (!existsSync(this.path)) this.create();
    const mode = statSync(this.path).mode & 0o777;
    if (mode !== 0o600) {
      this.deps.log.warn('device key file was readable by others; setting mode 0600', { path: this.path, mode: mode.toString(8) });
      chmodSync(this.path, 0o600);
    }
    const { privateKey, publicKeyRaw, keyId } = readKeyFile(this.path);
    this.loaded = { privateKey, publicKey: b64urlEncode(publicKeyRaw), keyId };
    this.deps.log.info('device key loaded', { keyId });
  }

  /** Base64url Ed25519 signature over `message`. */
  sign(message: Buffer): string {
    return b64urlEncode(sign(null, message, this.key().privateKey));
  }

  /** Base64url of the 32 raw public-key bytes. */
  get publicKey(): string {
    return this.key().publicKey;
  }

  get keyId(): string {
    return this.key().keyId;
  }

  private key(): Loaded {
    if (!this.loaded) throw new Error('DeviceKey used before start()');
    return this.loaded;
  }

  /** Temp file, fsync, rename, fsync the folder: a power cut leaves either no key or a whole one. */
  private create(): void {
    mkdirSync(this.deps.dir, { recursive: true });
    const temp = `${this.path}.tmp`;
    rmSync(temp, { force: true }); // a leftover from a crash mid-create holds no key anyone has seen
    writeKeyFile(temp, generateOwnerKey().privateKey);
    renameSync(temp, this.path);
    const dirFd = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.deps.log.info('device key created', { path: this.path });
  }
}
