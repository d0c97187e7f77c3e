/**
 * Recording pipeline cost: CPU (user + system of the whole process tree, from /proc) and resident
 * memory while a camera's 1080p main stream is recorded, in three windows, each with every contender
 * running at once (they share the machine's noise, so their ratios hold even on a busy machine):
 *   1. no motion detection: the agent against the floor, a bare `ffmpeg -c copy -f segment`;
 *   2. motion on the camera's 640x360 sub-stream, recording the main stream: the agent, Debian's
 *      `motion` (detection on the sub-stream, passthrough recording of the main one) and the floor,
 *      one bare ffmpeg copying the main stream and decoding the sub-stream to small grey frames;
 *   3. motion on the main stream only: the agent, `motion` and the floor (copy + grey decode of main).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../agent/config.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { sleep } from './harness/ports.js';
import { TreeSampler, type TreeUsage } from './harness/proc-stats.js';
import { MB, round } from './harness/stats.js';
import { machineInfo } from './machine.js';
import { row, withGoal, type BenchContext, type BenchResult, type BenchRow } from './result.js';
import { RtspServer, rtspServerUnavailable, streamFile, type StreamSpec } from './rtsp-server.js';

export interface RecordingOptions {
  seconds: number;
  warmupSeconds: number;
  brokerUrl: string;
}

export const MAIN_STREAM: Omit<StreamSpec, 'seconds'> = { width: 1920, height: 1080, fps: 15, kbps: 4000, gopSeconds: 2 };
export const SUB_STREAM: Omit<StreamSpec, 'seconds'> = { width: 640, height: 360, fps: 15, kbps: 500, gopSeconds: 2 };
const RAM = '/dev/shm';
/** The agent's default motion frames (camera.motion): the floor decodes to the same. */
const GREY = 'fps=5,scale=160:90:flags=area,format=gray';

interface Running {
  pid: number;
  stop: () => Promise<void>;
}

interface Contender {
  key: string;
  name: string;
  start: () => Promise<Running>;
}

type Camera = NonNullable<ConfigInput['camera']>;

function spawnTool(cmd: string, args: string[]): { child: ChildProcess; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  child.once('exit', (code, signal) => {
    if (signal === null && code !== 0 && code !== 255) process.stderr.write(`${cmd} exited ${code}: ${stderr}\n`);
  });
  return {
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** The floor: bare ffmpeg copying the main stream into 1 s segments on RAM, plus `extra` outputs. */
function floor(key: string, name: string, inputs: string[], extra: () => string[]): Contender {
  return {
    key,
    name,
    start: async () => {
      const dir = mkdtempSync(join(RAM, 'bench-floor-'));
      const t = spawnTool('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', ...inputs.flatMap((url) => ['-rtsp_transport', 'tcp', '-i', url]),
        '-map', '0:v:0', '-c', 'copy', '-f', 'segment', '-segment_time', '1', '-segment_format', 'mpegts', '-reset_timestamps', '0',
        '-segment_wrap', '20', join(dir, 's%06d.ts'), ...extra(),
      ]);
      return { pid: t.child.pid!, stop: async () => (await t.stop(), rmSync(dir, { recursive: true, force: true })) };
    },
  };
}

function agent(key: string, name: string, camera: () => Camera, opts: RecordingOptions, ctx: BenchContext): Contender {
  return {
    key,
    name,
    start: async () => {
      const folders = agentFolders(ctx.workDir, `rec-${key}`);
      writeBenchConfig(folders, {
        brokerUrl: opts.brokerUrl,
        device: { id: `bench${key.toLowerCase()}` },
        camera: camera(),
        record: { preRollSeconds: 5, postRollSeconds: 10 },
      });
      const a = new AgentProcess(folders.configFile);
      await a.start();
      return { pid: a.pid, stop: async () => (await a.stop(), folders.dispose()) };
    },
  };
}

/** Debian's motion daemon: detection on `detectUrl`, passthrough recording of `recordUrl` (its high stream when different). */
function motionDaemon(key: string, name: string, urls: () => { detect: string; record: string }, size: { width: number; height: number }, ctx: BenchContext): Contender {
  return {
    key,
    name,
    start: async () => {
      const dir = mkdtempSync(join(ctx.workDir, 'motion-'));
      mkdirSync(join(dir, 'out'));
      const conf = join(dir, 'motion.conf');
      const { detect, record } = urls();
      writeFileSync(
        conf,
        [
          'daemon off', 'setup_mode off', 'log_level 4', `log_file ${join(dir, 'motion.log')}`, `target_dir ${join(dir, 'out')}`,
          `netcam_url ${detect}`, 'netcam_params rtsp_transport=tcp',
          ...(record !== detect ? [`netcam_high_url ${record}`, 'netcam_high_params rtsp_transport=tcp'] : []),
          `width ${size.width}`, `height ${size.height}`, `framerate ${MAIN_STREAM.fps}`, 'threshold 1500', 'event_gap 60',
          'pre_capture 15', 'post_capture 150', 'movie_output on', 'movie_passthrough on', 'picture_output off',
          'stream_port 0', 'webcontrol_port 0',
        ].join('\n') + '\n',
      );
      const t = spawnTool('motion', ['-n', '-c', conf]);
      return { pid: t.child.pid!, stop: async () => (await t.stop(), rmSync(dir, { recursive: true, force: true })) };
    },
  };
}

/** Starts every contender at once, warms up, samples them all over the same window, stops them. */
async function window(title: string, contenders: Contender[], opts: RecordingOptions, ctx: BenchContext): Promise<Record<string, TreeUsage>> {
  ctx.progress(`recording: ${title}: ${contenders.map((c) => c.key).join(', ')} at once (${opts.warmupSeconds} s warm-up, ${opts.seconds} s measured)`);
  const running: Running[] = [];
  try {
    for (const c of contenders) running.push(await c.start());
    await sleep(opts.warmupSeconds * 1000);
    const samplers = running.map((r) => new TreeSampler(r.pid, 1000));
    samplers.forEach((s) => s.start());
    await sleep(opts.seconds * 1000);
    return Object.fromEntries(samplers.map((s, i) => [contenders[i]!.key, s.stop()]));
  } finally {
    await Promise.all(running.map((r) => r.stop()));
  }
}

function usageRows(benchmark: string, subject: TreeUsage, base: TreeUsage, baseName: string, goal?: { ratio: number; text: string }): BenchRow[] {
  const cpu = row(benchmark, 'CPU, % of one core', round(subject.cpuPercent, 2), '%', { name: baseName, value: round(base.cpuPercent, 2) });
  if (goal) withGoal(cpu, goal.text, (r) => r.ratio !== undefined && r.ratio <= goal.ratio);
  return [cpu, row(benchmark, 'RSS, mean', round(subject.rssMeanBytes / MB), 'MiB', { name: baseName, value: round(base.rssMeanBytes / MB) })];
}

export async function benchRecording(opts: RecordingOptions, ctx: BenchContext): Promise<BenchResult> {
  const unavailable = rtspServerUnavailable();
  if (unavailable) throw new Error(`recording needs the loopback RTSP camera: ${unavailable}`);
  const motionVersion = machineInfo().motion;
  const rows: BenchRow[] = [];
  const raw: Record<string, Record<string, TreeUsage>> = {};
  const seconds = opts.warmupSeconds + opts.seconds + 120;
  const server = new RtspServer(streamFile({ ...MAIN_STREAM, seconds }), streamFile({ ...SUB_STREAM, seconds }));
  const main = (): string => server.urlOf('/cam');
  const sub = (): string => server.urlOf('/sub');
  const spec = `${MAIN_STREAM.width}x${MAIN_STREAM.height} ${MAIN_STREAM.fps} fps H.264 at ${MAIN_STREAM.kbps / 1000} Mbit/s, keyframe every ${MAIN_STREAM.gopSeconds} s`;
  const rtsp = (extra: Partial<{ subUrl: string }> = {}): { source: 'rtsp'; rtsp: { url: string; subUrl?: string } } => ({ source: 'rtsp', rtsp: { url: main(), ...extra } });
  try {
    // Each window gets the stream from its start, the way a camera serves new sessions.
    await server.start();
    const copyName = 'bare ffmpeg -c copy -f segment';
    raw.plain = await window(
      'no motion detection',
      [floor('floor', copyName, [main()], () => []), agent('agent', 'agent', () => rtsp(), opts, ctx)],
      opts,
      ctx,
    );
    rows.push(...usageRows(`Recording the main stream, no motion detection (${spec}): agent (node + ffmpeg)`, raw.plain.agent!, raw.plain.floor!, copyName, { ratio: 1.2, text: '≤ 1.2× the floor' }));

    await server.stop();
    await server.start();
    const subFloorName = 'bare ffmpeg: copy of main + grey decode of the sub-stream';
    raw.sub = await window(
      'motion on the sub-stream',
      [
        floor('floor', subFloorName, [main(), sub()], () => ['-map', '1:v:0', '-vf', GREY, '-f', 'rawvideo', '-y', '/dev/null']),
        agent('agent', 'agent', () => ({ ...rtsp({ subUrl: sub() }), motion: { enabled: true } }), opts, ctx),
        ...(motionVersion ? [motionDaemon('motion', 'motion', () => ({ detect: sub(), record: main() }), SUB_STREAM, ctx)] : []),
      ],
      opts,
      ctx,
    );
    const subBench = `Recording the main stream with motion detection on the ${SUB_STREAM.width}x${SUB_STREAM.height} sub-stream`;
    if (raw.sub.motion) {
      rows.push(...usageRows(`${subBench}: agent`, raw.sub.agent!, raw.sub.motion, `Debian motion ${motionVersion} (detection on the sub-stream, passthrough of main)`, { ratio: 1.0, text: '≤ 1.0× motion' }));
      rows.push(...usageRows(`${subBench}: Debian motion`, raw.sub.motion, raw.sub.floor!, subFloorName));
    }
    rows.push(...usageRows(`${subBench}: agent`, raw.sub.agent!, raw.sub.floor!, subFloorName));

    await server.stop();
    await server.start();
    const mainFloorName = 'bare ffmpeg: copy + grey decode of main';
    raw.main = await window(
      'motion on the main stream only',
      [
        floor('floor', mainFloorName, [main()], () => ['-map', '0:v:0', '-vf', GREY, '-f', 'rawvideo', '-y', '/dev/null']),
        agent('agent', 'agent', () => ({ ...rtsp(), motion: { enabled: true } }), opts, ctx),
        ...(motionVersion ? [motionDaemon('motion', 'motion', () => ({ detect: main(), record: main() }), MAIN_STREAM, ctx)] : []),
      ],
      opts,
      ctx,
    );
    const mainBench = 'Recording with motion detection on the main stream only (no sub-stream)';
    if (raw.main.motion) {
      rows.push(...usageRows(`${mainBench}: agent`, raw.main.agent!, raw.main.motion, `Debian motion ${motionVersion} on the main stream`, { ratio: 0.8, text: '≤ 0.8× motion' }));
      rows.push(...usageRows(`${mainBench}: Debian motion`, raw.main.motion, raw.main.floor!, mainFloorName));
    }
    rows.push(...usageRows(`${mainBench}: agent`, raw.main.agent!, raw.main.floor!, mainFloorName));
  } finally {
    await server.stop();
  }
  const notes = [
    `Recording: three windows of ${opts.seconds} s (after ${opts.warmupSeconds} s of warm-up), every contender of a window running at the same time on the same loopback RTSP camera (GStreamer, a ${spec} main stream and a ${SUB_STREAM.width}x${SUB_STREAM.height} ${SUB_STREAM.kbps} kbit/s sub-stream of the same moving test scene, so motion never stops). CPU is each contender's whole process tree (node and every ffmpeg child): every live thread's scheduler runtime (/proc/PID/task/TID/schedstat, in ns) plus the CPU of children that ended (cutime + cstime); RSS is the sum over the tree, sampled every second. The agent records with a 5 s pre-roll and makes its clips as motion triggers them; motion (event_gap 60, passthrough) records the same scene.`,
  ];
  if (!motionVersion) notes.push('Debian `motion` is not installed (apt-get install motion): no comparison with it.');
  return { name: 'recording', rows, notes, raw };
}
