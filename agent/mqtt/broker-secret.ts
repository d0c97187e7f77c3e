/**
 * The embedded broker's passwords (protocol.md "Broker access"): one random secret per named login,
 * kept in the storage folder (0600) and made on the first start. Tools on the device that act as the
 * device, and Home Assistant on the embedded broker, log in by reading them.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/** The device's password (username `device`). */
export const DEVICE_SECRET_FILE = 'broker-secret';
/** Home Assistant's password (username `homeassistant`). */
export const HOMEASSISTANT_SECRET_FILE = 'broker-secret-homeassistant';

/** The secret in `dir/file`, made (32 random bytes, base64url) when there is none. */
export function brokerSecret(dir: string, file: string, log: Logger): string {
  const path = join(dir, file);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the broker password ${path}: ${(err as Error).message}`);
  }
  if (text !== undefined) {
    const secret = text.trim();
    if (!secret || /\s/.test(secret)) throw new Error(`${path} holds no broker password (one line, no spaces): move it away to make a new one`);
    const mode = statSync(path).mode & 0o777;
    if (mode !== 0o600) {
      log.warn('the broker password was readable by others; setting mode 0600', { path, mode: mode.toString(8) });
      chmodSync(path, 0o600);
    }
    return secret;
  }
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${secret}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  log.info('broker password created', { path });
  return secret;
}
