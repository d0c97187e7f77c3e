/**
 * The embedded broker's passwords (protocol.md "Broker access"): one random secret per named login,
 * kept in the storage folder (0600) and made on the first start. Tools on the device that act as the
 * device, and Home Assistant on the embedded broker, log in by reading them.
 */
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { createFileAtomically, readPrivateFile, writePrivate } from '../store/private-file.js';

/** The device's password (username `device`). */
export const DEVICE_SECRET_FILE = 'broker-secret';
/** Home Assistant's password (username `homeassistant`). */
export const HOMEASSISTANT_SECRET_FILE = 'broker-secret-homeassistant';

/** The secret in `dir/file`, made (32 random bytes, base64url) when there is none. */
export function brokerSecret(dir: string, file: string, log: Logger): string {
  const path = join(dir, file);
  const text = readPrivateFile(path, 'broker password', log);
  if (text !== undefined) {
    const secret = text.trim();
    if (!secret || /\s/.test(secret)) throw new Error(`${path} holds no broker password (one line, no spaces): move it away to make a new one`);
    return secret;
  }
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  createFileAtomically(path, (temp) => writePrivate(temp, `${secret}\n`));
  log.info('broker password created', { path });
  return secret;
}
