/**
 * Recording pipeline cost: CPU (user + system of the whole process tree, from /proc) and resident
 * memory while a 1080p 15 fps H.264 stream is recorded, for the agent and for the floor, a bare
 * `ffmpeg -c copy -f segment` of the same stream; and Debian's `motion` daemon when installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { h264Encode, SyntheticSource } from '../../agent/capture/index.js';
import type { ConfigInput } from '../../agent/config.js';
import { agentFolders, rtspCamera, withVideoMotion, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { sleep } from './harness/ports.js';
import { TreeSampler, type TreeUsage } from './harness/proc-stats.js';
import { MB, round } from './harness/stats.js';
import { machineInfo } from './machine.js';
import { row, type BenchContext, type BenchResult, type BenchRow } from './result.js';
import { RtspServer, rtspServerUnavailable, streamFile, type StreamSpec } from './rtsp-server.js';

export interface RecordingOptions {
  seconds: number;
  warmupSeconds: number;
  brokerUrl: string;
}

const STREAM: Omit<StreamSpec, 'seconds'> = { width: 1920, height: 1080, fps: 15, kbps: 4000 };
const RAM = '/dev/shm';

type Scenario = { name: string; run: () => Promise<{ pid: number; stop: () => Promise<void> }> };

async function measure(scenario: Scenario, opts: RecordingOptions, ctx: BenchContext): Promise<TreeUsage> {
  ctx.progress(`recording: ${scenario.name} (${opts.warmupSeconds} s warm-up, ${opts.seconds} s measured)`);
  const running = await scenario.run();
  try {
    await sleep(opts.warmupSeconds * 1000);
    const sampler = new TreeSampler(running.pid, 1000);
    sampler.start();
    await sleep(opts.seconds * 1000);
    return sampler.stop();
  } finally {
    await running.stop();
  }
}

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

/** The floor: what any recorder of this stream must at least do. Segments go to RAM, as the agent's do. */
function floorScenario(name: string, inputAndCodec: string[]): Scenario {
  return {
    name,
    run: async () => {
      const dir = mkdtempSync(join(RAM, 'bench-floor-'));
      const t = spawnTool('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', ...inputAndCodec,
        '-f', 'segment', '-segment_time', '1', '-segment_format', 'mpegts', '-reset_timestamps', '0',
        '-segment_wrap', '20', join(dir, 's%06d.ts'),
      ]);
      return { pid: t.child.pid!, stop: async () => (await t.stop(), rmSync(dir, { recursive: true, force: true })) };
    },
  };
}

function agentScenario(name: string, camera: NonNullable<ConfigInput['camera']>, opts: RecordingOptions, ctx: BenchContext): Scenario {
  return {
    name,
    run: async () => {
      const folders = agentFolders(ctx.workDir, 'rec');
      writeBenchConfig(folders, { brokerUrl: opts.brokerUrl, camera, record: { preRollSeconds: 5, postRollSeconds: 10 } });
      const agent = new AgentProcess(folders.configFile);
      await agent.start();
      return { pid: agent.pid, stop: async () => (await agent.stop(), folders.dispose()) };
    },
  };
}

function motionScenario(url: string, ctx: BenchContext): Scenario {
  return {
    name: 'Debian motion daemon',
    run: async () => {
      const dir = mkdtempSync(join(ctx.workDir, 'motion-'));
      mkdirSync(join(dir, 'out'));
      const conf = join(dir, 'motion.conf');
      // Motion detection on the decoded frames, passthrough (copy) recording of events, no web servers.
      writeFileSync(
        conf,
        [
          'daemon off', 'setup_mode off', 'log_level 4', `log_file ${join(dir, 'motion.log')}`, `target_dir ${join(dir, 'out')}`,
          `netcam_url ${url}`, 'netcam_params rtsp_transport=tcp', `width ${STREAM.width}`, `height ${STREAM.height}`,
          `framerate ${STREAM.fps}`, 'threshold 1500', 'event_gap 60', 'pre_capture 15', 'post_capture 150',
          'movie_output on', 'movie_passthrough on', 'picture_output off', 'stream_port 0', 'webcontrol_port 0',
        ].join('\n') + '\n',
      );
      const t = spawnTool('motion', ['-n', '-c', conf]);
      return { pid: t.child.pid!, stop: async () => (await t.stop(), rmSync(dir, { recursive: true, force: true })) };
    },
  };
}

function usageRows(benchmark: string, subject: TreeUsage, floor: TreeUsage, floorName: string, note?: string): BenchRow[] {
  return [
    row(benchmark, 'CPU, % of one core', round(subject.cpuPercent), '%', { name: floorName, value: round(floor.cpuPercent) }, note),
    row(benchmark, 'RSS, mean', round(subject.rssMeanBytes / MB), 'MiB', { name: floorName, value: round(floor.rssMeanBytes / MB) }),
  ];
}

export async function benchRecording(opts: RecordingOptions, ctx: BenchContext): Promise<BenchResult> {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const raw: Record<string, TreeUsage> = {};
  const spec = `${STREAM.width}x${STREAM.height} ${STREAM.fps} fps H.264 at ${STREAM.kbps / 1000} Mbit/s`;
  const unavailable = rtspServerUnavailable();
  let server: RtspServer | null = null;
  try {
    let rtspUrl: string | null = null;
    if (unavailable) notes.push(`Recording: no RTSP server (${unavailable}); only the synthetic pipeline was measured.`);
    else {
      server = new RtspServer(streamFile({ ...STREAM, seconds: opts.warmupSeconds + opts.seconds + 60 }));
      await server.start();
      rtspUrl = server.url;
    }
    const restartServer = async (): Promise<void> => {
      // Each recorder gets the stream from its start, the way a camera serves a new session.
      if (!server) return;
      await server.stop();
      await server.start();
      rtspUrl = server.url;
    };

    const camera = rtspUrl ? rtspCamera(rtspUrl) : null;
    if (rtspUrl) {
      const floorName = 'bare ffmpeg -c copy -f segment';
      raw.floorRtsp = await measure(floorScenario(floorName, ['-rtsp_transport', 'tcp', '-i', rtspUrl, '-c', 'copy']), opts, ctx);
      const bench = `Recording ${opts.seconds} s of ${spec} RTSP (loopback)`;
      if (camera) {
        // Built after each restart: the server comes back on a new port.
        const rtspWithMotion = (enabled: boolean) => withVideoMotion(rtspCamera(rtspUrl!)!, enabled);
        await restartServer();
        raw.agentRtsp = await measure(agentScenario('agent, RTSP', rtspWithMotion(false) ?? rtspCamera(rtspUrl)!, opts, ctx), opts, ctx);
        rows.push(...usageRows(`${bench}: agent (node + ffmpeg)`, raw.agentRtsp, raw.floorRtsp, floorName));
        if (rtspWithMotion(true)) {
          await restartServer();
          raw.agentRtspMotion = await measure(agentScenario('agent, RTSP, video motion', rtspWithMotion(true)!, opts, ctx), opts, ctx);
          rows.push(...usageRows(`${bench}: agent with video motion detection (scaled branch of the same ffmpeg)`, raw.agentRtspMotion, raw.floorRtsp, floorName));
        } else notes.push('Video motion detection: this agent has no `camera.motion.enabled` yet, so only the plain pipeline was measured.');
      } else {
        rows.push(row(`${bench}: bare ffmpeg (the floor)`, 'CPU, % of one core', round(raw.floorRtsp.cpuPercent), '%'));
        rows.push(row(`${bench}: bare ffmpeg (the floor)`, 'RSS, mean', round(raw.floorRtsp.rssMeanBytes / MB), 'MiB'));
        notes.push('Recording: this agent has no RTSP source yet (`camera.rtsp.url` is not in its config schema), so the agent was measured on its synthetic 1080p source, which encodes with libx264, against a bare ffmpeg running the identical encode.');
      }
      const motionVersion = machineInfo().motion;
      if (motionVersion) {
        await restartServer();
        raw.motionDaemon = await measure(motionScenario(rtspUrl, ctx), opts, ctx);
        rows.push(...usageRows(`${bench}: Debian motion ${motionVersion} (detection + passthrough)`, raw.motionDaemon, raw.floorRtsp, floorName));
      } else notes.push('Debian `motion` is not installed (apt-get install motion): no comparison with it.');
    }

    if (!camera) {
      const { width, height, fps } = STREAM;
      const synthetic = new SyntheticSource({ width, height, fps, segmentSeconds: 1 });
      const encode = [...synthetic.inputArgs(), ...h264Encode(fps, 1)];
      const floorName = 'bare ffmpeg, same synthetic encode';
      raw.floorSynthetic = await measure(floorScenario(floorName, encode), opts, ctx);
      const syntheticCamera = { source: 'synthetic', synthetic: { width, height, fps } } as const;
      raw.agentSynthetic = await measure(agentScenario('agent, synthetic', syntheticCamera, opts, ctx), opts, ctx);
      rows.push(
        ...usageRows(
          `Recording ${opts.seconds} s of synthetic ${width}x${height} ${fps} fps (libx264 ultrafast): agent (node + ffmpeg)`,
          raw.agentSynthetic,
          raw.floorSynthetic,
          floorName,
        ),
      );
    }
  } finally {
    await server?.stop();
  }
  notes.push(
    `Recording: CPU is user + system time of the whole process tree (node and every ffmpeg child, from /proc/PID/stat) over ${opts.seconds} s after a ${opts.warmupSeconds} s warm-up, with no trigger (the always-on pre-roll pipeline); RSS is the sum over the tree, sampled every second.`,
  );
  return { name: 'recording', rows, notes, raw };
}
