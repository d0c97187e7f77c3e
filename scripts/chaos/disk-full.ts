/**
 * The store's filesystem full: a 20 MB tmpfs mounted for the store (root only), filled to the last
 * byte while the agent runs. The agent must keep running, say why clips fail, keep the store
 * consistent, and record again once there is room. Without root it is skipped, saying so.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentFolders } from '../bench/harness/agent-config.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep } from '../bench/harness/ports.js';
import type { PhaseResult } from './phase.js';
import { ChaosWorld } from './world.js';

export interface DiskFullOptions {
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

/** Writes until the filesystem refuses, first in megabytes, then in 4 KiB, then in bytes. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0xaa);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function mountTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'not running as root: cannot mount a small tmpfs for the store';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()}`;
  }
}

export async function chaosDiskFull(opts: DiskFullOptions): Promise<PhaseResult> {
  const name = 'store filesystem full';
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const base = mkdtempSync(join(opts.workDir, 'diskfull-'));
  const mountPoint = join(base, 'mnt');
  mkdirSync(mountPoint);
  const skipped = mountTmpfs(mountPoint);
  if (skipped) {
    process.stdout.write(`chaos: ${name} skipped: ${skipped}\n`);
    return { name, violations, counts, skipped };
  }
  try {
    const runtimeDir = mkdtempSync('/dev/shm/doorbell-diskfull-');
    const folders: AgentFolders = {
      dir: base,
      runtimeDir,
      configFile: join(base, 'doorbell.yaml'),
      storageDir: join(mountPoint, 'data'),
      dispose: () => rmSync(runtimeDir, { recursive: true, force: true }),
    };
    mkdirSync(folders.storageDir);
    const world = await ChaosWorld.create({
      name: 'diskfull',
      broker: opts.broker,
      workDir: opts.workDir,
      receiverBytesPerSecond: 1024 * 1024,
      folders,
      // The cap is far above the filesystem: the store believes the clip fits, the disk says no.
      parts: { camera: { synthetic: { width: 640, height: 480, fps: 15 } }, record: { preRollSeconds: 1, postRollSeconds: 2 }, storage: { maxBytes: 1024 ** 3 } },
    });
    try {
      await world.agent.start();
      await sleep(2000);
      await world.ring();
      await world.agent.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip before the disk fills');

      opts.progress('disk-full: filling the store filesystem');
      const filler = join(mountPoint, 'filler');
      counts['filler bytes'] = fill(filler);
      const since = Date.now();
      // One kind of input at a time, so a crash names its path: rings (clip, event outbox), then requests.
      for (const [what, act] of [
        ['ring', () => world.ring()],
        ['request', () => world.sendRequest('approve', 30 * 60_000)],
      ] as const) {
        for (let i = 0; i < 2 && world.agent.running; i++) {
          await act().catch((err: Error) => violations.push(`${what} on a full disk failed: ${err.message}`));
          await sleep(5000);
        }
        if (!world.agent.running) violations.push(`the agent died on a full disk after a ${what}`);
      }
      const said = world.agent.lines.filter(
        (l) => Date.parse(l.time) >= since && (l.level === 'error' || l.level === 'warn') && /full|ENOSPC|SQLITE_FULL/i.test(JSON.stringify(l)),
      );
      counts['log lines naming the full disk'] = said.length;
      if (said.length === 0) violations.push('the agent never logged that the disk is full');
      if (!world.agent.running) {
        violations.push(`the agent died on a full disk: ${world.agent.stderr.slice(-2000) || world.agent.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
      } else {
        opts.progress('disk-full: room again, the next ring must record');
        rmSync(filler);
        const freedAt = Date.now();
        await world.ring().catch((err: Error) => violations.push(`ring refused after space came back: ${err.message}`));
        await world.agent
          .waitForLog((l) => l.msg === 'clip ready' && Date.parse(l.time) > freedAt, 60_000, 'a clip once there is room again')
          .catch((err: Error) => violations.push(err.message));
        await world.agent.stop();
      }
      violations.push(...world.check().violations);
      counts['clips recorded'] = world.ledger.seenReady.size;
    } finally {
      await world.dispose();
      folders.dispose();
    }
  } finally {
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(base, { recursive: true, force: true });
  }
  return { name, violations, counts };
}
