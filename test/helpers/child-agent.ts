/**
 * The built agent (`dist/agent/cli.js`) run as a child process from a YAML config in a temp dir, as
 * systemd would run it: for tests that kill it, restart it, or drive it through the CLI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfig, type Config, type ConfigInput } from '../../agent/config.js';
import { sendControl } from '../../agent/control/index.js';
import { controlSocketPath } from '../../agent/main.js';
import { freePort } from './ports.js';

export const CLI = fileURLToPath(new URL('../../dist/agent/cli.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `doorbell ARGS --config FILE` to completion. */
export function runCli(args: string[], configFile: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args, '--config', configFile], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

export class ChildAgent {
  readonly dir = mkdtempSync(join(tmpdir(), 'child-agent-'));
  readonly configFile = join(this.dir, 'doorbell.yaml');
  config!: Config;
  brokerUrl = '';
  /** Everything the agents started from this config printed, for a failing test's message. */
  output = '';
  private child: ChildProcess | null = null;

  /** Writes the config: embedded broker on free ports (unless `mqtt.url` names one), small synthetic camera, short clips. */
  async configure(overrides: ConfigInput = {}): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npx tsc -p tsconfig.build.json" (npm test builds it)`);
    const port = await freePort();
    const input: ConfigInput = {
      ...overrides,
      device: { id: 'childdoor', ...overrides.device },
      runtime: { dir: join(this.dir, 'run') },
      storage: { dir: join(this.dir, 'data'), ...overrides.storage },
      camera: { synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: 1, postRollSeconds: 1 },
      mqtt: { embedded: { host: '127.0.0.1', port, wsPort: await freePort() }, ...overrides.mqtt },
      web: { enabled: false },
      log: { level: 'warn', format: 'json' },
    };
    writeFileSync(this.configFile, stringify(input));
    this.config = loadConfig(this.configFile);
    this.brokerUrl = this.config.mqtt.url ?? `mqtt://127.0.0.1:${port}`;
  }

  /** Starts `doorbell run` and resolves once it answers on its control socket. */
  async start(): Promise<void> {
    // Its own process group, so a kill reaches the ffmpeg it started too.
    const child = spawn(process.execPath, [CLI, 'run', '--config', this.configFile], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    await this.eventually(async () => {
      if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}:\n${this.output}`);
      await this.control('status');
      return true;
    }, 20_000);
  }

  control(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return sendControl(controlSocketPath(this.config), cmd, args);
  }

  cli(args: string[]): Promise<CliResult> {
    return runCli(args, this.configFile);
  }

  /** Sends `signal` to the agent's process group and resolves with its exit code (null when killed). */
  async kill(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    process.kill(-child.pid!, signal);
    return exited;
  }

  async dispose(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Polls `check` until it returns true; its last error explains a timeout. */
  async eventually(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        if (await check()) return;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out: ${(last as Error | undefined)?.message ?? 'condition never held'}\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
