/** The real probes: programs, files, the camera through capture's ffmpeg module, the broker. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { createSource, FfmpegTools, locateFfmpeg, type FfmpegPaths } from '../capture/index.js';
import type { Config } from '../config.js';
import { AgentNotRunningError, sendControl } from '../control/index.js';
import { silentLogger } from '../log.js';
import { controlSocketPath } from '../main.js';
import { loadOnoff } from '../../hardware/index.js';
import type { AgentCamera, BrokerProbe, DoctorProbes, RunResult } from './types.js';

const RUN_TIMEOUT_MS = 10_000;
const FRAME_TIMEOUT_MS = 20_000;
const MAX_OUTPUT = 256 * 1024;

function run(command: string, args: string[], timeoutMs = RUN_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout = (stdout + t).slice(0, MAX_OUTPUT)));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-MAX_OUTPUT)));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

async function agentCamera(config: Config): Promise<AgentCamera | null> {
  try {
    const status = (await sendControl(controlSocketPath(config), 'status')) as { camera?: AgentCamera };
    if (!status.camera) throw new Error('the agent answered "status" without the camera');
    return status.camera;
  } catch (err) {
    if (err instanceof AgentNotRunningError) return null;
    throw err;
  }
}

/** One frame of the configured source, read and encoded the way capture does it, into a temp file. */
async function grabFrame(config: Config, ffmpeg: FfmpegPaths): Promise<number> {
  const source = createSource(config);
  const tools = new FfmpegTools(ffmpeg, silentLogger);
  await source.prepare?.(tools, silentLogger);
  const dir = await mkdtemp(join(tmpdir(), 'doorbell-doctor-'));
  try {
    const out = join(dir, 'frame.ts');
    const args = [...source.inputArgs(), '-frames:v', '1', ...source.videoArgs(), '-f', 'mpegts', out];
    const proc = tools.spawn(args, undefined, { feeder: source.feeder?.() });
    const timer = setTimeout(() => void proc.stop(), FRAME_TIMEOUT_MS);
    const exit = await proc.exited.finally(() => clearTimeout(timer));
    if (exit.requested) throw new Error(`no frame within ${FRAME_TIMEOUT_MS / 1000} s from ${source.describe()}`);
    if (exit.code !== 0) {
      // A feeder that died first (the Pi camera busy or missing) is the cause; ffmpeg only saw its input end.
      const why = exit.error ?? exit.feeder ?? (proc.stderr().slice(-3).join(' | ') || `exit code ${exit.code}`);
      throw new Error(source.redact(`ffmpeg could not read ${source.describe()}: ${why}`));
    }
    return (await stat(out)).size;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function connectBroker(probe: BrokerProbe): Promise<void> {
  const client = connect(probe.url, {
    clientId: probe.clientId,
    username: probe.username,
    password: probe.password,
    protocolVersion: 4,
    clean: true,
    connectTimeout: probe.timeoutMs,
    reconnectPeriod: 0,
  });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${probe.timeoutMs / 1000} s`)), probe.timeoutMs);
    const settle = (err?: Error): void => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    client.once('connect', () => settle());
    client.once('error', (err) => settle(err));
    client.once('close', () => settle(new Error('the broker closed the connection')));
  }).finally(() => client.end(true));
}

export const systemProbes: DoctorProbes = {
  run,
  readFile: (path) => readFile(path, 'utf8'),
  freeBytes,
  locateFfmpeg,
  agentCamera,
  grabFrame,
  connectBroker,
  loadOnoff,
  sysfsRoot: '/sys',
  uid: () => process.getuid?.() ?? -1,
};
