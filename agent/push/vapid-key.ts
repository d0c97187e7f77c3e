/**
 * The device's VAPID key (RFC 8292): one ECDSA P-256 key pair, made once and kept in storage.dir
 * (0600). Phones subscribe with its public half, so a new key would silently orphan every subscription.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { createFileAtomically, readPrivateFile, writePrivate } from '../store/private-file.js';

export const VAPID_KEY_FILE = 'push-vapid.json';

export interface VapidKeys {
  /** 65-byte uncompressed P-256 point, base64url: the `applicationServerKey` a phone subscribes with. */
  publicKey: string;
  /** 32-byte scalar, base64url. */
  privateKey: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export class VapidKey {
  private keys: VapidKeys | undefined;

  constructor(private readonly deps: { dir: string; log: Logger }) {}

  start(): void {
    const file = join(this.deps.dir, VAPID_KEY_FILE);
    const text = readPrivateFile(file, 'push key', this.deps.log);
    if (text !== undefined) {
      const parsed = JSON.parse(text) as Partial<VapidKeys>;
      if (!isKey(parsed.publicKey, 87) || !isKey(parsed.privateKey, 43)) {
        throw new Error(`${file} is not a VAPID key file ({"publicKey","privateKey"} in base64url): move it away to make a new key`);
      }
      this.keys = { publicKey: parsed.publicKey, privateKey: parsed.privateKey };
      return;
    }
    const made = newVapidKeys();
    createFileAtomically(file, (temp) => writePrivate(temp, `${JSON.stringify({ publicKey: made.publicKey, privateKey: made.privateKey })}\n`));
    this.keys = made;
    this.deps.log.info('push key created', { file });
  }

  get publicKey(): string {
    return this.loaded().publicKey;
  }

  get privateKey(): string {
    return this.loaded().privateKey;
  }

  private loaded(): VapidKeys {
    if (!this.keys) throw new Error('VapidKey used before start()');
    return this.keys;
  }
}

function isKey(v: unknown, length: number): v is string {
  return typeof v === 'string' && v.length === length && B64URL.test(v);
}

/** The form web-push's generateVAPIDKeys() gives, from node:crypto (web-push itself loads on the first push). */
function newVapidKeys(): VapidKeys {
  // Exported from a key made from the generator's own encoding, never from the KeyObject it returned
  // (see generateOwnerKey: that export can deadlock Node 20).
  const { privateKey: pkcs8 } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  });
  const jwk = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { publicKey: point.toString('base64url'), privateKey: jwk.d! };
}
