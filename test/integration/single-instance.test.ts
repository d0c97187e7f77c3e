/**
 * One agent per storage and runtime folder, and a start that fails ends the process: real `doorbell
 * run` children, as systemd or two demos from two clones would run them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig, type Config, type ConfigInput } from '../../agent/config.js';
import { sendControl } from '../../agent/control/index.js';
import { controlSocketPath } from '../../agent/main.js';
import { CLI } from '../helpers/child-agent.js';
import { freePort } from '../helpers/ports.js';

const root = mkdtempSync(join(tmpdir(), 'single-instance-'));
const children: ChildProcess[] = [];
const configs: Config[] = [];

afterAll(() => {
  // Every child's process group, also when a test timed out half-way.
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
  // The default runtime folders live in /dev/shm: leave nothing behind.
  for (const c of configs) rmSync(c.runtime.dir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

/** A config without runtime.dir: the agent derives it from the storage folder, as a demo does. */
async function writeConfig(name: string, extra: ConfigInput = {}): Promise<{ file: string; config: Config }> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'doorbell.yaml');
  const input: ConfigInput = {
    device: { id: 'lockdoor' },
    storage: { dir: join(dir, 'data') },
    camera: { synthetic: { width: 160, height: 120, fps: 5 } },
    record: { preRollSeconds: 1, postRollSeconds: 1 },
    mqtt: { embedded: { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() } },
    web: { enabled: false },
    log: { level: 'info', format: 'json' },
    ...extra,
  };
  writeFileSync(file, stringify(input));
  const config = loadConfig(file, {});
  configs.push(config);
  return { file, config };
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; ms: number }>;
}

function run(file: string): Run {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUNTIME_DIRECTORY: '', XDG_RUNTIME_DIR: '', NOTIFY_SOCKET: '' },
  });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, ms: Date.now() - started })),
  );
  return { child, output: () => text, exited };
}

async function running(r: Run, config: Config): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (r.child.exitCode !== null) throw new Error(`the agent exited with ${r.child.exitCode}:\n${r.output()}`);
    if (await sendControl(controlSocketPath(config), 'status').then(() => true, () => false)) return;
    if (Date.now() > deadline) throw new Error(`the agent never answered on its control socket:\n${r.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stop(r: Run): Promise<{ code: number | null; ms: number }> {
  if (r.child.exitCode === null) process.kill(-r.child.pid!, 'SIGTERM');
  return r.exited;
}

function ffmpegPid(config: Config): number {
  return Number(readFileSync(join(config.runtime.dir, 'segments', 'ffmpeg.pids'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('one agent per storage folder', () => {
  it('two agents from two storage folders run side by side, each with its own runtime folder', async () => {
    const a = await writeConfig('clone-a');
    const b = await writeConfig('clone-b');
    expect(a.config.runtime.dir).not.toBe(b.config.runtime.dir);
    const ra = run(a.file);
    await running(ra, a.config);
    const pidA = ffmpegPid(a.config);
    const rb = run(b.file);
    await running(rb, b.config);
    // The second agent ended nothing of the first: its ffmpeg is the same live process.
    expect(ffmpegPid(a.config)).toBe(pidA);
    expect(alive(pidA)).toBe(true);
    expect(ra.output() + rb.output()).not.toContain('ended an ffmpeg left running');
    expect((await stop(rb)).code).toBe(0);
    expect((await stop(ra)).code).toBe(0);
  });

  it('a second run on the same storage exits 1 at once, names the holder, and touches nothing', async () => {
    const a = await writeConfig('same-store');
    const first = run(a.file);
    await running(first, a.config);
    const pidA = ffmpegPid(a.config);
    // A clip being written: crash recovery in a second agent would delete it.
    const temp = join(a.config.storage.dir, 'clips', '.tmp', 'in-progress.mp4');
    writeFileSync(temp, 'half a clip');
    // Same storage, another runtime folder and other ports: only the lock can stop it.
    const dup = join(root, 'same-store', 'second.yaml');
    writeFileSync(
      dup,
      stringify({
        device: { id: 'lockdoor' },
        storage: { dir: a.config.storage.dir },
        runtime: { dir: join(root, 'same-store', 'run-2') },
        camera: { synthetic: { width: 160, height: 120, fps: 5 } },
        mqtt: { embedded: { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() } },
        web: { enabled: false },
        log: { level: 'info', format: 'json' },
      }),
    );
    const second = run(dup);
    const { code, ms } = await second.exited;
    expect(code).toBe(1);
    expect(second.output()).toContain(`pid ${first.child.pid}`);
    expect(second.output()).toContain(a.config.storage.dir);
    expect(ms).toBeLessThan(10_000); // 2 s on an idle machine; generous for a loaded one
    expect(existsSync(temp)).toBe(true);
    expect(existsSync(join(root, 'same-store', 'run-2', 'segments'))).toBe(false);
    expect(ffmpegPid(a.config)).toBe(pidA);
    expect(alive(pidA)).toBe(true);
    expect(await sendControl(controlSocketPath(a.config), 'status')).toBeTruthy();
    // A second agent on the same runtime folder (another store) is refused too.
    const c = await writeConfig('same-runtime', { runtime: { dir: a.config.runtime.dir } });
    const third = run(c.file);
    expect((await third.exited).code).toBe(1);
    expect(third.output()).toContain(`pid ${first.child.pid}`);
    expect(alive(pidA)).toBe(true);
    rmSync(temp);
    expect((await stop(first)).code).toBe(0);
  });
});

describe('a failed start', () => {
  let taken: Server | null = null;
  afterAll(() => taken?.close());

  it('stops what it started and exits non-zero (MQTT port already in use)', async () => {
    taken = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken!.listen(port, '127.0.0.1', resolve));
    const a = await writeConfig('port-taken', {
      mqtt: { embedded: { host: '127.0.0.1', port: await freePort(), wsPort: port } },
    });
    const r = run(a.file);
    const { code, ms } = await r.exited;
    expect(code).not.toBe(0);
    expect(r.output()).toContain('already in use');
    expect(ms).toBeLessThan(15_000); // 5 s when idle; the old agent never exited at all
    // It released its lock: an agent on the same folders starts once the port is free.
    taken.close();
    taken = null;
    const again = run(a.file);
    await running(again, a.config);
    expect((await stop(again)).code).toBe(0);
  });
});
