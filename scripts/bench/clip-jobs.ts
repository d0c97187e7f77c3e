/**
 * What each clip costs once recorded: the join of an 18 s clip (9 MPEG-TS segments of the 1080p main
 * stream, one keyframe every 2 s) and the snapshot of a trigger, in CPU seconds of the ffmpeg
 * processes (user + system, from this process's reaped-children times). The agent's jobs run through
 * its own FfmpegTools; the baselines are bare ffmpeg commands run the same way.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FfmpegTools, locateFfmpeg } from '../../agent/capture/index.js';
import { silentLogger } from '../../agent/log.js';
import { reapedChildrenCpuSeconds } from './harness/proc-stats.js';
import { percentile, round } from './harness/stats.js';
import { MAIN_STREAM } from './recording.js';
import { row, withGoal, type BenchContext, type BenchResult } from './result.js';
import { streamFile } from './rtsp-server.js';

export interface ClipJobsOptions {
  runs: number;
}

const SEGMENTS = 9;

/** This process's CPU seconds (every thread) plus those of its children that ended. */
function cpuSeconds(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1e6 + reapedChildrenCpuSeconds();
}

/** CPU seconds of each of `runs` calls of `job`, in order: the first includes compiling the code it runs. */
async function cpuOf(runs: number, job: () => Promise<unknown> | unknown): Promise<number[]> {
  const costs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = cpuSeconds();
    await job();
    costs.push(cpuSeconds() - before);
  }
  return costs;
}

const median = (costs: number[]): number => percentile(costs, 50);

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

export async function benchClipJobs(opts: ClipJobsOptions, ctx: BenchContext): Promise<BenchResult> {
  const dir = mkdtempSync(join(ctx.workDir, 'clipjobs-'));
  try {
    const source = streamFile({ ...MAIN_STREAM, seconds: 30 });
    // Segments as the pre-roll ffmpeg writes them: cut at keyframes, timestamps continuous.
    ffmpeg(['-i', source, '-t', String(2 * SEGMENTS + 2), '-map', '0:v:0', '-c', 'copy', '-f', 'segment', '-segment_time', '1',
      '-segment_format', 'mpegts', '-reset_timestamps', '0', join(dir, 's%09d.ts')]);
    const segments = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort().slice(0, SEGMENTS).map((f) => join(dir, f));
    const tools = new FfmpegTools(await locateFfmpeg(), silentLogger);
    ctx.progress(`clip jobs: join of ${SEGMENTS} segments and a snapshot, ${opts.runs} runs each`);
    const out = join(dir, 'clip.mp4');
    let seconds = 0;
    const agentJoin = await cpuOf(opts.runs, async () => (seconds = (await tools.joinSegments(segments, out)).seconds));
    const bareConcat = await cpuOf(opts.runs, () =>
      ffmpeg(['-i', `concat:${segments.join('|')}`, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', join(dir, 'bare.mp4')]),
    );
    const agentSnapshot = await cpuOf(opts.runs, () => tools.extractThumbnail(segments[4]!, 0));
    // What a snapshot cost before: decoding the whole segment at full size up to the moment.
    const fullDecode = await cpuOf(opts.runs, () =>
      ffmpeg(['-i', segments[4]!, '-ss', '1.5', '-frames:v', '1', '-vf', "scale='min(320,iw)':-2", '-q:v', '6', '-f', 'mjpeg', join(dir, 'full.jpg')]),
    );
    const joinBench = `Join of an ${Math.round(seconds)} s clip (${SEGMENTS} MPEG-TS segments, ${MAIN_STREAM.width}x${MAIN_STREAM.height}) into a faststart MP4`;
    const snapBench = `Snapshot of a trigger (${MAIN_STREAM.width}x${MAIN_STREAM.height} segment → ≤ 320 px JPEG)`;
    return {
      name: 'clip-jobs',
      rows: [
        withGoal(row(joinBench, 'CPU', round(median(agentJoin), 3), 'CPU-s', { name: 'bare ffmpeg, concat: protocol', value: round(median(bareConcat), 3) }), '≤ 0.2 CPU-s', (r) => r.value <= 0.2),
        row(snapBench, 'CPU', round(median(agentSnapshot), 3), 'CPU-s', { name: 'full decode to the moment (how it was made before)', value: round(median(fullDecode), 3) }),
      ],
      notes: [
        `Clip jobs: median of ${opts.runs} runs, CPU seconds (user + system, every thread) of the benchmark process and of the ffmpeg processes it started. The agent joins H.264 segments inside node (no ffmpeg process: starting one costs more than the remux), in two passes over the segments; its first join, with node compiling the code as it runs, took ${round(agentJoin[0]!, 3)} CPU-s. Its snapshot decodes only the keyframe that opens the segment, at thumbnail size.`,
      ],
      raw: { agentJoin, bareConcat, agentSnapshot, fullDecode, seconds },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
