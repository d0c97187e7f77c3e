/**
 * Trigger → clip ready, beyond the post-roll: from the press plus `record.postRollSeconds` to the
 * agent logging the clip stored (joined, thumbnailed, hashed, fsynced, indexed). Baseline: the
 * least any recorder can do: wait for the last segment to close, then one bare ffmpeg concat of
 * the same number of segments into an MP4 with +faststart.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { h264Encode } from '../../agent/capture/index.js';
import { sendControl } from '../../agent/control/index.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { json, MqttProbe } from './harness/mqtt.js';
import { sleep } from './harness/ports.js';
import { percentile, round } from './harness/stats.js';
import { row, type BenchContext, type BenchResult } from './result.js';

export interface ClipReadyOptions {
  rings: number;
  brokerUrl: string;
}

const PRE_ROLL_S = 2;
const POST_ROLL_S = 3;
const SEGMENT_S = 1;
const CAMERA = { width: 640, height: 480, fps: 15 };

function bareJoinTimes(dir: string, count: number): number[] {
  const segs = join(dir, 'segs');
  const { width, height, fps } = CAMERA;
  const made = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`, '-t', String(PRE_ROLL_S + POST_ROLL_S + 2),
    ...h264Encode(fps, SEGMENT_S), '-f', 'segment', '-segment_time', String(SEGMENT_S), '-segment_format', 'mpegts', join(dir, 'segs-%03d.ts'),
  ]);
  if (made.status !== 0) throw new Error(`making segments failed: ${made.stderr.toString()}`);
  const files = readdirSync(dir).filter((f) => f.startsWith('segs-')).sort().slice(0, PRE_ROLL_S + POST_ROLL_S);
  writeFileSync(segs, files.map((f) => `file '${join(dir, f)}'\n`).join(''));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const began = performance.now();
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', segs, '-c', 'copy', '-movflags', '+faststart', join(dir, 'clip.mp4')]);
    if (r.status !== 0) throw new Error(`bare concat failed: ${r.stderr.toString()}`);
    times.push(SEGMENT_S * 1000 + performance.now() - began);
  }
  return times;
}

export async function benchClipReady(opts: ClipReadyOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'clipready');
  writeBenchConfig(folders, {
    brokerUrl: opts.brokerUrl,
    camera: { synthetic: CAMERA },
    record: { preRollSeconds: PRE_ROLL_S, postRollSeconds: POST_ROLL_S, segmentSeconds: SEGMENT_S },
  });
  const agent = new AgentProcess(folders.configFile);
  const topics = topicsFor('doorbell', 'benchdoor');
  const samples: number[] = [];
  let baseline: number[] = [];
  try {
    await agent.start();
    const probe = await MqttProbe.connect(opts.brokerUrl, [topics.event]);
    await sleep((PRE_ROLL_S + 1) * 1000); // a full pre-roll in the ring before the first press
    ctx.progress(`trigger → clip ready: ${opts.rings} rings`);
    for (let i = 0; i < opts.rings; i++) {
      probe.messages.length = 0;
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      const event = json(await probe.waitFor((m) => m.topic === topics.event, 10_000, `event ${i}`));
      const ready = await agent.waitForLog((l) => l.msg === 'clip ready' && l.clipId === event.clipId, 60_000, `clip ${String(event.clipId)}`);
      samples.push(Date.parse(ready.time) - (Date.parse(String(event.at)) + POST_ROLL_S * 1000));
      await sleep(1000); // the next press opens a new clip instead of extending this one
    }
    await probe.close();
    ctx.progress(`trigger → clip ready: ${opts.rings} bare ffmpeg joins (baseline)`);
    const scratch = mkdtempSync(join(ctx.workDir, 'join-'));
    baseline = bareJoinTimes(scratch, opts.rings);
    rmSync(scratch, { recursive: true, force: true });
  } finally {
    await agent.stop();
    folders.dispose();
  }
  const bench = `Trigger → clip ready beyond the post-roll (${opts.rings} rings, ${PRE_ROLL_S} s + ${POST_ROLL_S} s clips, ${CAMERA.width}x${CAMERA.height})`;
  const base = `${SEGMENT_S} s segment close + bare ffmpeg concat`;
  return {
    name: 'clip-ready',
    rows: [
      row(bench, 'p50', round(percentile(samples, 50)), 'ms', { name: base, value: round(percentile(baseline, 50)) }),
      row(bench, 'p99', round(percentile(samples, 99)), 'ms', { name: base, value: round(percentile(baseline, 99)) }),
    ],
    notes: [
      'Clip ready: from the press time + post-roll to the agent\'s "clip ready" log line (the clip joined, thumbnailed, hashed, fsynced and indexed).',
    ],
    raw: { samples, baseline },
  };
}
