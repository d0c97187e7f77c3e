/** Moving files the store will not own out of the clip folder: never deleting them. */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { iso, type Clock } from '../clock.js';
import type { StoreIo } from './fsync.js';
import type { StoreLayout } from './layout.js';

/**
 * Moves `names` (entries of the clip folder) into a new `quarantine/<timestamp>/` folder and returns
 * its path. Rename keeps it on the same filesystem: no copy, so a full disk cannot make it fail halfway.
 */
export function quarantine(layout: StoreLayout, names: readonly string[], clock: Clock, io: StoreIo): string {
  const stamp = iso(clock.now()).replace(/:/g, '-');
  let dest = join(layout.quarantine, stamp);
  for (let n = 2; existsSync(dest); n++) dest = join(layout.quarantine, `${stamp}-${n}`);
  mkdirSync(dest, { recursive: true });
  io.syncDir(layout.quarantine);
  for (const name of names) io.rename(join(layout.clips, name), join(dest, name));
  // Both folders: the move must be durable before the caller adopts a new identity or drops rows.
  io.syncDir(dest);
  io.syncDir(layout.clips);
  return dest;
}
