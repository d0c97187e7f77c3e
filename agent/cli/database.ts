/** How CLI commands open the agent's database without leaving files the agent can no longer write. */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config.js';
import { databasePath } from '../main.js';
import { openDatabase, type Db } from '../store/database.js';

/**
 * Opening SQLite (even read-only) creates -wal and -shm files owned by the caller: root would leave
 * files the agent's own user cannot write, and the agent would fail at its next start.
 */
export function openCliDatabase(config: Config, opts: { readonly?: boolean; create?: boolean } = {}): Db {
  const file = databasePath(config);
  if (!existsSync(file) && !opts.create) {
    throw new Error(`no database at ${file} yet (the agent creates it on first start)`);
  }
  const owner = statSync(existsSync(file) ? file : dirname(file), { throwIfNoEntry: false })?.uid;
  if (process.getuid?.() === 0 && owner !== undefined && owner !== 0) {
    throw new Error(`${file} belongs to another user: run this as the agent's user (sudo -u doorbell doorbell …)`);
  }
  return openDatabase(file, { readonly: opts.readonly ?? false });
}
