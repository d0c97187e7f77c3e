/** Which filesystem a path is on, from /proc/self/mounts. */
import { realpath } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Mount {
  device: string;
  mountPoint: string;
  type: string;
  options: string[];
}

/** The kernel writes spaces, tabs, newlines and backslashes in mount fields as octal escapes. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMounts(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint, type, options] = line.trim().split(/\s+/);
    if (!device || !mountPoint || !type) continue;
    mounts.push({ device: unescape(device), mountPoint: unescape(mountPoint), type, options: (options ?? '').split(',') });
  }
  return mounts;
}

/** The mount holding `path`: the longest mount point that contains it (the last one mounted wins a tie). */
export function mountOf(mounts: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(m.mountPoint + '/');
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** The path itself with symlinks resolved, or its nearest existing ancestor (a folder not created yet). */
export async function nearestExisting(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    try {
      return await realpath(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
    }
  }
}

export const RAM_FILESYSTEMS: readonly string[] = ['tmpfs', 'ramfs'];
