/**
 * Small private files in the storage folder (the device's keys, the broker passwords, the push key;
 * mode 0600): read when there, with a mode that lets others read put right; made once, atomically
 * (temp file, fsync, rename, fsync the folder), so a power cut leaves no file or a whole one.
 */
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { isMissingFile } from './errors.js';
import { nodeIo } from './fsync.js';

/** The text of `path`, or undefined when there is none; `what` names it in errors and warnings. */
export function readPrivateFile(path: string, what: string, log: Logger): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    throw new Error(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  ensurePrivateMode(path, what, log);
  return text;
}

export function ensurePrivateMode(path: string, what: string, log: Logger): void {
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600) {
    log.warn(`the ${what} was readable by others; setting mode 0600`, { path, mode: mode.toString(8) });
    chmodSync(path, 0o600);
  }
}

/** Creates `path` through `write(temp)`; a leftover temp file from a crash mid-create holds nothing anyone has seen. */
export function createFileAtomically(path: string, write: (temp: string) => void): void {
  const temp = `${path}.tmp`;
  rmSync(temp, { force: true });
  write(temp);
  renameSync(temp, path);
  nodeIo.syncDir(dirname(path));
}

/** Mode 0600 from the first byte, fsynced; an existing file is never replaced. */
export function writePrivate(path: string, text: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    chmodSync(path, 0o600);
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
