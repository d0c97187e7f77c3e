/** Agent configurations for benchmarks and chaos runs: temp folders, a given broker, no web server. */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configKeys, parseConfig, type ConfigInput } from '../../../agent/config.js';
import { writeAgentConfig } from './agent-process.js';

export interface AgentFolders {
  /** Holds the config file and the store (`data/`): on disk, like the SD card. */
  dir: string;
  /** The runtime folder (pre-roll segments, control socket): tmpfs, like /run. */
  runtimeDir: string;
  configFile: string;
  storageDir: string;
  dispose(): void;
}

export function agentFolders(parent: string, name: string): AgentFolders {
  const dir = mkdtempSync(join(parent, `${name}-`));
  const ramBase = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const runtimeDir = mkdtempSync(join(ramBase, `doorbell-${name}-`));
  mkdirSync(join(dir, 'data'), { recursive: true });
  return {
    dir,
    runtimeDir,
    configFile: join(dir, 'doorbell.yaml'),
    storageDir: join(dir, 'data'),
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}

type Section<K extends keyof ConfigInput> = NonNullable<ConfigInput[K]>;

export interface AgentConfigParts {
  brokerUrl: string;
  camera?: Section<'camera'>;
  record?: Section<'record'>;
  storage?: Omit<Section<'storage'>, 'dir'>;
  requests?: Section<'requests'>;
  device?: Section<'device'>;
  gpio?: Section<'gpio'>;
}

/** Writes the config file and checks it the way the agent will. */
export function writeBenchConfig(folders: AgentFolders, parts: AgentConfigParts): ConfigInput {
  const config: ConfigInput = {
    device: { id: 'benchdoor', ...parts.device },
    runtime: { dir: folders.runtimeDir },
    storage: { dir: folders.storageDir, ...parts.storage },
    camera: parts.camera ?? { synthetic: { width: 320, height: 240, fps: 10 } },
    record: parts.record ?? { preRollSeconds: 2, postRollSeconds: 2 },
    mqtt: { url: parts.brokerUrl },
    web: { enabled: false },
    ...(parts.requests ? { requests: parts.requests } : {}),
    ...(parts.gpio ? { gpio: parts.gpio } : {}),
  };
  parseConfig(config, folders.configFile, {});
  writeAgentConfig(folders.configFile, config);
  return config;
}

/** The camera section for an RTSP URL, when this agent's config schema has an RTSP source; else null. */
export function rtspCamera(url: string): Section<'camera'> | null {
  if (!configKeys().includes('camera.rtsp.url')) return null;
  const camera = { source: 'rtsp', rtsp: { url } } as unknown as Section<'camera'>;
  try {
    parseConfig({ camera }, 'rtsp probe', {});
    return camera;
  } catch {
    return null; // the schema has camera.rtsp.url but wants more: the benchmark says it fell back
  }
}

/** Video motion detection switched on or off, when this agent's config schema has it; else null. */
export function withVideoMotion(camera: Section<'camera'>, enabled: boolean): Section<'camera'> | null {
  if (!configKeys().includes('camera.motion.enabled')) return null;
  return { ...camera, motion: { enabled } } as unknown as Section<'camera'>;
}
