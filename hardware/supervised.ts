/**
 * A long-running helper process (gpiomon, gpioset) kept alive: if it dies it is restarted with
 * exponential backoff, and each death is logged with the end of its stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../agent/log.js';

export interface SupervisedProcessDeps {
  command: string;
  args: string[];
  log: Logger;
  onLine?: (line: string) => void;
  /** Runs before each restart (not the first start), e.g. to catch up on what was missed. */
  beforeRestart?: () => Promise<void>;
  /** First restart delay; doubles per quick death up to `maxRestartMs`. */
  restartMs?: number;
  maxRestartMs?: number;
  /** How long the first run must survive for start() to succeed. */
  settleMs?: number;
  /** Turns the stderr (or spawn error) of a first run that died at once into the error start() throws. */
  explain?: (detail: string) => Error;
}

/** A run that lasted this long was healthy: the next death restarts from the shortest delay. */
const HEALTHY_RUN_MS = 30_000;
const KILL_GRACE_MS = 2_000;
const STDERR_TAIL_CHARS = 2_048;

export class SupervisedProcess {
  private child: ChildProcess | null = null;
  private stopping = false;
  /** During start()'s first run: a death is start()'s to report, not the supervisor's to restart. */
  private settling = false;
  private attempt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private stderrTail = '';

  constructor(private readonly deps: SupervisedProcessDeps) {}

  /** Spawns the process; rejects (and gives up) if the first run dies within `settleMs`. */
  async start(): Promise<void> {
    this.stopping = false;
    this.settling = true;
    const child = this.spawn();
    const death = await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), this.deps.settleMs ?? 250);
      let spawnError = '';
      child.once('error', (err) => (spawnError = err.message));
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve(spawnError || this.stderrTail.trim() || `exited with code ${code}`);
      });
    });
    this.settling = false;
    if (death === null) return;
    const explain = this.deps.explain ?? ((detail: string) => new Error(`${this.deps.command}: ${detail}`));
    throw explain(death);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      child.once('close', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private spawn(): ChildProcess {
    const { command, args, log } = this.deps;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const startedAt = Date.now();
    this.child = child;
    this.stderrTail = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.deps.onLine?.(line);
      } catch (err) {
        log.error(`handling ${command} output failed`, { line, error: (err as Error).message });
      }
    });
    // A failed spawn emits 'error' and then 'close' too, so 'close' alone ends a run.
    let spawnError: string | undefined;
    child.on('error', (err) => (spawnError = err.message));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopping || this.settling) return;
      if (Date.now() - startedAt >= HEALTHY_RUN_MS) this.attempt = 0;
      const delay = Math.min(this.deps.maxRestartMs ?? 60_000, (this.deps.restartMs ?? 1_000) * 2 ** this.attempt++);
      const stderr = this.stderrTail.trim();
      log.warn(`${command} exited; restarting in ${delay} ms`, { code, signal, error: spawnError, stderr, args });
      this.restartTimer = setTimeout(() => void this.restart(), delay);
    });
    return child;
  }

  private async restart(): Promise<void> {
    this.restartTimer = null;
    try {
      await this.deps.beforeRestart?.();
    } catch (err) {
      this.deps.log.warn(`catching up before restarting ${this.deps.command} failed`, { error: (err as Error).message });
    }
    if (!this.stopping) this.spawn();
  }
}
