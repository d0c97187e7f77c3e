/**
 * Bytes written to the store's filesystem: per idle hour (target 0) and per clip (target ≤ 1.1 × the
 * clip's size). Counted with /proc/PID/io `write_bytes` over the agent's process tree: the bytes the
 * kernel was asked to write to block devices on the tree's behalf, every SQLite page, WAL frame,
 * shared-memory index page and clip file included, each rewrite counted again. The pre-roll segments
 * go to tmpfs and do not count, which is the point. A snapshot of the storage folder is reported
 * beside it: it shows what stayed, but misses rewrites, which is what wears an SD card.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { sleep } from './harness/ports.js';
import { sampleTree } from './harness/proc-stats.js';
import { round } from './harness/stats.js';
import { row, type BenchContext, type BenchResult } from './result.js';

export interface DiskWritesOptions {
  idleMinutes: number;
  clips: number;
  brokerUrl: string;
}

const CAMERA = { width: 640, height: 480, fps: 15 };
const PRE_ROLL_S = 2;
const POST_ROLL_S = 3;

function folderBytes(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    sum += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return sum;
}

export async function benchDiskWrites(opts: DiskWritesOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'writes');
  writeBenchConfig(folders, { brokerUrl: opts.brokerUrl, camera: { synthetic: CAMERA }, record: { preRollSeconds: PRE_ROLL_S, postRollSeconds: POST_ROLL_S } });
  const agent = new AgentProcess(folders.configFile);
  let idleBytes = 0;
  let idleFolderDelta = 0;
  let clipWrites = 0;
  let clipBytes = 0;
  let idleSeconds = 0;
  try {
    await agent.start();
    await sleep(10_000); // start-up writes (migrations, identity, first state) are not idle writes
    ctx.progress(`disk writes: idle for ${opts.idleMinutes} min`);
    let before = sampleTree(agent.pid);
    let folderBefore = folderBytes(folders.storageDir);
    let began = performance.now();
    await sleep(opts.idleMinutes * 60_000);
    idleSeconds = (performance.now() - began) / 1000;
    idleBytes = sampleTree(agent.pid).writeBytes - before.writeBytes;
    idleFolderDelta = folderBytes(folders.storageDir) - folderBefore;

    ctx.progress(`disk writes: ${opts.clips} clips`);
    before = sampleTree(agent.pid);
    for (let i = 0; i < opts.clips; i++) {
      const ready = agent.waitForLog((l) => l.msg === 'clip ready', 60_000, `clip ${i}`);
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      clipBytes += Number((await ready).bytes);
      await sleep(500);
    }
    clipWrites = sampleTree(agent.pid).writeBytes - before.writeBytes;
  } finally {
    await agent.stop();
    folders.dispose();
  }
  const perHour = (idleBytes / idleSeconds) * 3600;
  const perClipWritten = clipWrites / opts.clips;
  const perClipSize = clipBytes / opts.clips;
  return {
    name: 'disk-writes',
    rows: [
      row('Bytes written to the store per idle hour (target 0)', `extrapolated from ${opts.idleMinutes} min`, round(perHour), 'B', undefined, `storage folder grew ${idleFolderDelta} B`),
      row(
        `Bytes written to the store per clip (${opts.clips} clips of ${PRE_ROLL_S + POST_ROLL_S} s, ${CAMERA.width}x${CAMERA.height}; target ≤ 1.1×)`,
        'per clip',
        round(perClipWritten / 1024),
        'KiB',
        { name: 'the clip file itself', value: round(perClipSize / 1024) },
      ),
    ],
    notes: [
      'Disk writes: /proc/PID/io write_bytes summed over the agent\'s process tree (reaped ffmpeg jobs included), so every SQLite page, WAL frame and -shm page rewrite counts; pre-roll segments live on tmpfs and do not. The agent\'s log went to a pipe here: under systemd, journald writes its log lines too (storage=volatile keeps them in RAM).',
    ],
    raw: { idleBytes, idleSeconds, idleFolderDelta, clipWrites, clipBytes },
  };
}
