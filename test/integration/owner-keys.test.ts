import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import {
  b64urlDecode,
  b64urlEncode,
  DeviceKey,
  generateOwnerKey,
  readDevicePublicKeys,
  readKeyFile,
  verifyEd25519,
  writeKeyFile,
} from '../../agent/owner/index.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'owner-keys-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('owner key files', () => {
  it('writes PKCS#8 PEM with mode 0600 and reads back the same key', () => {
    const key = generateOwnerKey();
    const file = join(dir, 'owner.pem');
    writeKeyFile(file, key.privateKey);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const read = readKeyFile(file);
    expect(read.keyId).toBe(key.keyId);
    expect(read.publicKeyRaw.equals(key.publicKeyRaw)).toBe(true);
  });

  it('never overwrites an existing file', () => {
    const file = join(dir, 'owner.pem');
    const first = generateOwnerKey();
    writeKeyFile(file, first.privateKey);
    expect(() => writeKeyFile(file, generateOwnerKey().privateKey)).toThrow(/already exists/);
    expect(readKeyFile(file).keyId).toBe(first.keyId);
  });

  it('explains when a file is not an Ed25519 private key', () => {
    const ec = join(dir, 'ec.pem');
    writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(() => readKeyFile(ec)).toThrow(/holds a key of type ec; expected an Ed25519 private key/);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'hello');
    expect(() => readKeyFile(junk)).toThrow(/is not a private key/);
  });
});

describe('DeviceKey', () => {
  it('is created on first start with mode 0600 and the same keys are loaded after a restart', async () => {
    const first = new DeviceKey({ dir, log: silentLogger });
    await first.start();
    expect(statSync(join(dir, 'device-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'device-age.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['device-age.key', 'device-key.pem', 'device-public.json']);
    expect(first.sealingRecipient).toMatch(/^age1[a-z0-9]{58}$/);
    // The public file holds the public halves only, readable by the CLI without the private keys.
    expect(readDevicePublicKeys(dir)).toEqual({ keyId: first.keyId, signingKey: first.publicKey, sealingRecipient: first.sealingRecipient });
    expect(readFileSync(join(dir, 'device-public.json'), 'utf8')).not.toContain('SECRET');

    const restarted = new DeviceKey({ dir, log: silentLogger });
    await restarted.start();
    expect(restarted.keyId).toBe(first.keyId);
    expect(restarted.publicKey).toBe(first.publicKey);
    expect(restarted.sealingRecipient).toBe(first.sealingRecipient);
    // Debian's age derives the same recipient from the stored identity: the file is a plain age identity.
    expect(execFileSync('age-keygen', ['-y', join(dir, 'device-age.key')], { encoding: 'utf8' }).trim()).toBe(first.sealingRecipient);
  });

  it('signs with the key it publishes', async () => {
    const key = new DeviceKey({ dir, log: silentLogger });
    await key.start();
    const message = Buffer.from('7:' + 'a'.repeat(64));
    const sig = b64urlDecode(key.sign(message));
    expect(verifyEd25519(b64urlDecode(key.publicKey), message, sig)).toBe(true);
    expect(verifyEd25519(generateOwnerKey().publicKeyRaw, message, sig)).toBe(false);
    expect(key.publicKey).toBe(b64urlEncode(readKeyFile(join(dir, 'device-key.pem')).publicKeyRaw));
  });

  it('refuses to be used before start', () => {
    expect(() => new DeviceKey({ dir, log: silentLogger }).publicKey).toThrow(/before start/);
  });
});
