/**
 * The camera side killed: the agent's capture ffmpeg (SIGKILL), and, with an RTSP source, the camera
 * server itself (SIGKILL, then back on the same port). The agent must notice, restart capture by
 * itself, and record a ring afterwards.
 */
import { configKeys } from '../../agent/config.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep } from '../bench/harness/ports.js';
import { processTree } from '../bench/harness/proc-stats.js';
import { RtspServer, rtspServerUnavailable, streamFile } from '../bench/rtsp-server.js';
import { readFileSync } from 'node:fs';
import type { PhaseResult } from './phase.js';
import { ChaosWorld } from './world.js';

export interface CameraOptions {
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

const STALL_S = 3;

function captureFfmpeg(agentPid: number): number | undefined {
  return processTree(agentPid).find((p) => p.pid !== agentPid && readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'ffmpeg')?.pid;
}

/** After an outage, the agent must say video flows again and make a clip of the next ring. */
async function expectRecovery(world: ChaosWorld, since: number, what: string, violations: string[]): Promise<void> {
  try {
    await world.agent.waitForLog((l) => l.msg === 'video is flowing' && Date.parse(l.time) > since, 60_000, `video flowing again after ${what}`);
    await world.ring();
    await world.agent.waitForLog((l) => l.msg === 'clip ready' && Date.parse(l.time) > since, 60_000, `a clip after ${what}`);
  } catch (err) {
    violations.push(`${what}: ${(err as Error).message}`);
  }
}

export async function chaosCamera(opts: CameraOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const rtspMissing = configKeys().includes('camera.rtsp.url') ? rtspServerUnavailable() : 'the agent has no RTSP source';
  let server: RtspServer | null = null;
  if (!rtspMissing) {
    server = new RtspServer(streamFile({ width: 320, height: 240, fps: 15, kbps: 500, seconds: 300 }));
    await server.start();
  }
  const camera = server
    ? ({ source: 'rtsp', rtsp: { url: server.url }, stallSeconds: STALL_S } as const)
    : { synthetic: { width: 320, height: 240, fps: 10 }, stallSeconds: STALL_S };
  const world = await ChaosWorld.create({
    name: 'camera',
    broker: opts.broker,
    workDir: opts.workDir,
    receiverBytesPerSecond: 1024 * 1024,
    parts: { camera, record: { preRollSeconds: 1, postRollSeconds: 1 } },
  });
  try {
    await world.agent.start();
    await world.agent.waitForLog((l) => l.msg === 'video is flowing', 30_000, 'video');

    for (let i = 0; i < 3; i++) {
      opts.progress(`camera: capture ffmpeg SIGKILL ${i + 1}/3`);
      const pid = captureFfmpeg(world.agent.pid);
      if (!pid) {
        violations.push('no capture ffmpeg under the agent to kill');
        break;
      }
      const since = Date.now();
      process.kill(pid, 'SIGKILL');
      counts['capture ffmpeg kills'] = (counts['capture ffmpeg kills'] ?? 0) + 1;
      await expectRecovery(world, since, `capture ffmpeg kill ${i + 1}`, violations);
    }

    if (server) {
      const port = Number(new URL(server.url.replace('rtsp:', 'http:')).port);
      for (let i = 0; i < 2; i++) {
        opts.progress(`camera: RTSP server SIGKILL ${i + 1}/2`);
        const since = Date.now();
        await server.stop('SIGKILL');
        counts['camera server kills'] = (counts['camera server kills'] ?? 0) + 1;
        // Down for longer than the stall time, so the agent has to notice and report it.
        await sleep((STALL_S + 3) * 1000);
        await server.start(port);
        await expectRecovery(world, since, `camera server kill ${i + 1}`, violations);
      }
      const reported = world.agent.lines.some((l) => l.level === 'warn' && /ffmpeg ended|no video/.test(l.msg + String(l.why ?? '')));
      if (!reported) violations.push('the camera outage was never reported in the log');
    } else counts[`camera server kills skipped (${rtspMissing})`] = 0;

    if (!world.agent.running) violations.push(`the agent exited: ${world.agent.stderr.slice(-2000)}`);
    await world.agent.stop();
    violations.push(...world.check().violations);
    counts['clips recorded'] = world.ledger.seenReady.size;
  } finally {
    await world.dispose();
    await server?.stop();
  }
  return { name: 'camera side killed and restarted', violations, counts };
}
