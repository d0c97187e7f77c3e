/**
 * The agent as the service runs it: `node dist/agent/cli.js run --config FILE` in a child process,
 * with its JSON log lines parsed so a benchmark or the chaos run can wait for what it says.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../../agent/config.js';

export const CLI_PATH = fileURLToPath(new URL('../../../agent/cli.js', import.meta.url));
const UNIT_PATH = fileURLToPath(new URL('../../../../systemd/doorbell.service', import.meta.url));

/** How the systemd unit runs node (node's flags before the script, its Environment= lines), so the agent is measured the way it runs. */
export function unitLaunch(): { nodeFlags: string[]; env: NodeJS.ProcessEnv } {
  const unit = readFileSync(UNIT_PATH, 'utf8');
  const exec = /^ExecStart=\S+ (.*?)\s*\S+\/dist\/agent\/cli\.js /m.exec(unit);
  if (!exec) throw new Error(`no ExecStart running dist/agent/cli.js in ${UNIT_PATH}`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const m of unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!.trim();
  return { nodeFlags: exec[1]!.split(/\s+/).filter(Boolean), env };
}

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

const KEEP_LINES = 2_000;
const STDERR_TAIL = 8_000;

/** JSON is YAML: the config file the agent reads, written from a config object. */
export function writeAgentConfig(file: string, config: ConfigInput): string {
  writeFileSync(file, JSON.stringify({ log: { format: 'json', level: 'info' }, ...config }, null, 2));
  return file;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs another `doorbell` command (audit verify, clips ls, owner add) against the same config. */
export function runCli(configFile: string, args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args, '--config', configFile], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export class AgentProcess extends EventEmitter<{ log: [LogLine]; exit: [{ code: number | null; signal: NodeJS.Signals | null }] }> {
  readonly lines: LogLine[] = [];
  private child: ChildProcess | null = null;
  private stderrTail = '';
  private exitedPromise: Promise<void> = Promise.resolve();

  constructor(readonly configFile: string) {
    super();
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('the agent is not running');
    return this.child.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the agent wrote to stderr lately (a crash's stack trace lands there). */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Spawns the agent and resolves once it logs "agent started"; rejects if it exits first. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error('the agent is already running');
    this.stderrTail = '';
    const { nodeFlags, env } = unitLaunch();
    const child = spawn(process.execPath, [...nodeFlags, CLI_PATH, 'run', '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child = child;
    this.exitedPromise = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.emit('exit', { code, signal });
        resolve();
      }),
    );
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const text of parts) if (text.trim()) this.record(text);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL);
    });
    const started = this.waitForLog((l) => l.msg === 'agent started', timeoutMs, 'the agent to start');
    const exited = this.exitedPromise.then(() => {
      throw new Error(`the agent exited before it started: ${this.stderrTail.trim() || this.lines.slice(-3).map((l) => l.msg).join('; ')}`);
    });
    await Promise.race([started, exited]);
  }

  /** A clean stop (SIGTERM), as systemd does; SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  /** A crash or power cut as far as the agent can tell: SIGKILL, nothing runs after it. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await this.exitedPromise;
  }

  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const onLog = (line: LogLine): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.off('log', onLog);
        resolve(line);
      };
      const timer = setTimeout(() => {
        this.off('log', onLog);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.on('log', onLog);
    });
  }

  private record(text: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { time: new Date().toISOString(), level: 'raw', msg: text };
    }
    this.lines.push(line);
    if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
    this.emit('log', line);
  }
}
