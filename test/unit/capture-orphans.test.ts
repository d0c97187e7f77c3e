import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reapOrphans, recordPids } from '../../agent/capture/orphans.js';
import { silentLogger } from '../../agent/log.js';

const dir = mkdtempSync(join(tmpdir(), 'segments-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function sleeper(arg: string): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', arg], { stdio: 'ignore' });
  children.push(child);
  return child;
}

const exited = (c: ChildProcess): Promise<NodeJS.Signals | null> =>
  new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.signalCode) : c.once('exit', (_code, signal) => resolve(signal))));

describe('ffmpeg left behind by a killed agent', () => {
  it('is ended at the next start, while an unrelated process named in the same file is left alone', async () => {
    const orphan = sleeper(join(dir, 's%06d.ts'));
    const unrelated = sleeper('/somewhere/else');
    await new Promise((r) => setTimeout(r, 200));
    await recordPids(dir, [orphan.pid, unrelated.pid, null]);
    expect(await reapOrphans(dir, silentLogger)).toBe(1);
    expect(await exited(orphan)).toBe('SIGKILL');
    expect(unrelated.exitCode).toBeNull();
    expect(unrelated.signalCode).toBeNull();
    expect(existsSync(join(dir, 'ffmpeg.pids'))).toBe(false);
  });

  it('does nothing without a pid file', async () => {
    expect(await reapOrphans(join(dir, 'nothing-here'), silentLogger)).toBe(0);
  });
});
