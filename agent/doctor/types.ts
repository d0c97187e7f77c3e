/** The shapes every doctor check shares. */
import type { FfmpegPaths } from '../capture/index.js';
import type { Config } from '../config.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about it. */
  fix?: string;
  /** Passed, but worth attention (e.g. segments on the SD card instead of RAM). */
  warning?: boolean;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  ok: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BrokerProbe {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
  timeoutMs: number;
}

/** The camera as a running agent reports it (capture's health, over the control socket). */
export interface AgentCamera {
  ok: boolean;
  lastSegmentAt: number | null;
  restarts: number;
  detail?: string;
}

/** Everything a check touches outside the process, so tests can replace it. */
export interface DoctorProbes {
  /** Runs a program; rejects (with `code` ENOENT) when it cannot be started, resolves otherwise. */
  run(command: string, args: string[], timeoutMs?: number): Promise<RunResult>;
  readFile(path: string): Promise<string>;
  /** Bytes available to an unprivileged user on the filesystem holding `path`. */
  freeBytes(path: string): Promise<number>;
  locateFfmpeg(configured?: string): Promise<FfmpegPaths>;
  /** The running agent's view of the camera, or null when no agent is running. */
  agentCamera(config: Config): Promise<AgentCamera | null>;
  /** Records one frame from the configured camera; resolves with its size in bytes. */
  grabFrame(config: Config, ffmpeg: FfmpegPaths): Promise<number>;
  /** Connects and disconnects; rejects with the broker's or the network's error. */
  connectBroker(probe: BrokerProbe): Promise<void>;
  loadOnoff(): Promise<unknown>;
  sysfsRoot: string;
  uid(): number;
}

export interface CheckContext {
  config: Config;
  probes: DoctorProbes;
  /** ffmpeg as the ffmpeg check found it, for the camera check; null when it was not found. */
  ffmpeg: FfmpegPaths | null;
}
