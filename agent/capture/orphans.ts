/**
 * An agent killed with SIGKILL (outside systemd, which kills the whole cgroup) leaves its ffmpeg
 * running, still writing segments into the RAM folder. The next agent finds it through a pid file
 * and ends it before starting its own, so two encoders never share one camera or one folder.
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

const PID_FILE = 'ffmpeg.pids';

export async function recordPids(dir: string, pids: (number | null | undefined)[]): Promise<void> {
  await writeFile(join(dir, PID_FILE), pids.filter((p): p is number => typeof p === 'number').join('\n') + '\n');
}

/** After a clean stop nothing is left running: the pid file goes too. */
export async function forgetPids(dir: string): Promise<void> {
  await rm(join(dir, PID_FILE), { force: true });
}

/** Ends the processes named in the pid file whose command line still mentions `dir` (never an unrelated pid). */
export async function reapOrphans(dir: string, log: Logger): Promise<number> {
  let text: string;
  try {
    text = readFileSync(join(dir, PID_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let reaped = 0;
  for (const pid of text.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 1)) {
    const cmdline = readCmdline(pid);
    if (cmdline === null || !cmdline.includes(dir)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      reaped++;
      log.warn('ended an ffmpeg left running by an agent that died', { pid });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await rm(join(dir, PID_FILE), { force: true });
  return reaped;
}

function readCmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null; // Gone already (or not Linux): nothing to end.
  }
}
