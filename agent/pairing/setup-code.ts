/**
 * The setup code of a headless install: scripts/install.sh writes 16 digits to a root-only file
 * (/etc/doorbell/setup-code, 0600) and prints them once; systemd hands the file to the agent as the
 * credential `setup-code` (LoadCredential=), so the agent's own user never reads /etc/doorbell.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETUP_CODE_DIGITS } from './protocol.js';

export const SETUP_CODE_CREDENTIAL = 'setup-code';

/** The setup code, or undefined without one; a malformed file is an error naming the file. */
export function readSetupCode(env: NodeJS.ProcessEnv): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return undefined;
  const file = join(dir, SETUP_CODE_CREDENTIAL);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const code = text.replace(/\s/g, '');
  if (!new RegExp(`^\\d{${SETUP_CODE_DIGITS}}$`).test(code)) throw new Error(`${file} does not hold a ${SETUP_CODE_DIGITS}-digit setup code`);
  return code;
}
