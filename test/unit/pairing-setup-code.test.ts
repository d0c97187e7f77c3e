/** The setup code as systemd hands it over ($CREDENTIALS_DIRECTORY/setup-code). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSetupCode } from '../../agent/pairing/index.js';

const dir = mkdtempSync(join(tmpdir(), 'credentials-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readSetupCode', () => {
  it('is undefined without a credentials directory or without the credential', () => {
    expect(readSetupCode({})).toBeUndefined();
    expect(readSetupCode({ CREDENTIALS_DIRECTORY: dir })).toBeUndefined();
  });

  it('reads the 16 digits install.sh wrote, with their newline', () => {
    writeFileSync(join(dir, 'setup-code'), '4821067395128846\n');
    expect(readSetupCode({ CREDENTIALS_DIRECTORY: dir })).toBe('4821067395128846');
  });

  it('refuses anything else, naming the file', () => {
    writeFileSync(join(dir, 'setup-code'), '123456\n');
    expect(() => readSetupCode({ CREDENTIALS_DIRECTORY: dir })).toThrow(`${join(dir, 'setup-code')} does not hold a 16-digit setup code`);
  });
});
