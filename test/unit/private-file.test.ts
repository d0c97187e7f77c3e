/**
 * The device's private files (broker passwords, the push key): made once with mode 0600 and kept
 * across restarts; one restored with a mode that lets others read it (a backup copied back) is put
 * right and says so; a temp file left by a crash mid-create is not taken for the file.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../agent/log.js';
import { brokerSecret } from '../../agent/mqtt/index.js';
import { VAPID_KEY_FILE, VapidKey } from '../../agent/push/index.js';

let dir: string;
let warnings: string[];
const log = {
  debug: () => undefined,
  info: () => undefined,
  warn: (msg: string) => warnings.push(msg),
  error: () => undefined,
} as unknown as Logger;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'private-file-'));
  warnings = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a private file', () => {
  it('is made once with mode 0600, ignoring a temp file a crash left, and read back the same', () => {
    writeFileSync(join(dir, 'broker-secret.tmp'), 'half-written');
    const secret = brokerSecret(dir, 'broker-secret', log);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dir, 'broker-secret')).mode & 0o777).toBe(0o600);
    expect(brokerSecret(dir, 'broker-secret', log)).toBe(secret);
    expect(warnings).toEqual([]);
  });

  it('restored readable by others is set to 0600 with a warning, and keeps its key', () => {
    const first = new VapidKey({ dir, log });
    first.start();
    const file = join(dir, VAPID_KEY_FILE);
    chmodSync(file, 0o644);
    const again = new VapidKey({ dir, log });
    again.start();
    expect(again.publicKey).toBe(first.publicKey);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings).toEqual(['the push key was readable by others; setting mode 0600']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ publicKey: first.publicKey, privateKey: first.privateKey });
  });
});
