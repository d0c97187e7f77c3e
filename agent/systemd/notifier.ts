/**
 * sd_notify for Node: `dgram` cannot send unix datagrams, so each message is sent by running
 * `systemd-notify --pid=<our pid> …` (the unit says NotifyAccess=all). systemd-notify waits until
 * systemd has processed the message (a barrier), so its early exit cannot lose it. Without
 * $NOTIFY_SOCKET (not started by systemd) every call is a silent no-op.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

export interface NotifyResult {
  /** Exit code, or null when the process could not be started or was killed. */
  code: number | null;
  /** The start error or the tail of stderr, for the log. */
  detail: string;
}

/** Runs systemd-notify; tests replace it with a fake that records the arguments. */
export type NotifySpawn = (command: string, args: string[], env: NodeJS.ProcessEnv) => Promise<NotifyResult>;

export interface SystemdNotifierDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  spawn?: NotifySpawn;
  /** The pid systemd knows as the service's main process; default: this process. */
  pid?: number;
}

export const SYSTEMD_NOTIFY = 'systemd-notify';
const MAX_DETAIL = 500;

const spawnNotify: NotifySpawn = (command, args, env) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-MAX_DETAIL)));
    child.once('error', (err) => resolve({ code: null, detail: err.message }));
    child.once('close', (code) => resolve({ code, detail: stderr.trim() }));
  });

export class SystemdNotifier {
  private failureLogged = false;

  constructor(private readonly deps: SystemdNotifierDeps) {}

  /** True when started by systemd with a notification socket. */
  get enabled(): boolean {
    return Boolean(this.deps.env.NOTIFY_SOCKET);
  }

  ready(): Promise<void> {
    return this.send(['READY=1']);
  }

  watchdog(): Promise<void> {
    return this.send(['WATCHDOG=1']);
  }

  stopping(): Promise<void> {
    return this.send(['STOPPING=1']);
  }

  /** A one-line status that `systemctl status doorbell` shows. */
  status(text: string): Promise<void> {
    return this.send([`STATUS=${text.replace(/\s*\n\s*/g, ' ')}`]);
  }

  /**
   * How often to send WATCHDOG=1: half of systemd's WatchdogSec (from $WATCHDOG_USEC), or null when
   * the watchdog is off or meant for another process ($WATCHDOG_PID).
   */
  watchdogIntervalMs(): number | null {
    const { env } = this.deps;
    if (!this.enabled) return null;
    const usec = Number(env.WATCHDOG_USEC);
    if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return null;
    if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== this.pid) return null;
    return Math.max(1, Math.floor(usec / 2000));
  }

  private get pid(): number {
    return this.deps.pid ?? process.pid;
  }

  private async send(assignments: string[]): Promise<void> {
    if (!this.enabled) return;
    const run = this.deps.spawn ?? spawnNotify;
    const result = await run(SYSTEMD_NOTIFY, [`--pid=${this.pid}`, ...assignments], this.deps.env);
    if (result.code === 0) {
      this.failureLogged = false;
      return;
    }
    // Logged once per run of failures: a missing systemd-notify would otherwise log every 30 s.
    if (this.failureLogged) return;
    this.failureLogged = true;
    this.deps.log.error('systemd-notify failed: systemd will not see the agent as ready or alive', {
      message: assignments.join(' '),
      code: result.code,
      detail: result.detail,
    });
  }
}
