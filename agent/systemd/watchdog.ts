/**
 * Feeds systemd's watchdog only while every health check passes. A hung agent stops feeding by
 * itself; this also catches one that still runs but no longer records (ffmpeg stalled for good, the
 * database unwritable, the event loop crawling), so systemd restarts it after WatchdogSec.
 * The event loop's lag is how late the watchdog's own timer fires: a second timer sampling it more
 * often would wake an idle agent for nothing, since only the lag at a feeding decides anything.
 */
import type { Logger } from '../log.js';

export interface HealthCheck {
  name: string;
  /** true when healthy; false, or a string saying what is wrong, when not. Must be cheap and synchronous. */
  ok(): boolean | string;
}

/** The part of SystemdNotifier the watchdog uses. */
export interface WatchdogNotifier {
  watchdog(): Promise<void>;
  status(text: string): Promise<void>;
}

export interface WatchdogDeps {
  notifier: WatchdogNotifier;
  checks: readonly HealthCheck[];
  /** From SystemdNotifier.watchdogIntervalMs(); null when systemd's watchdog is off (nothing is fed). */
  intervalMs: number | null;
  /** Unhealthy when a feeding comes this much later than due: the event loop is crawling or was blocked. */
  maxLagMs: number;
  log: Logger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  /** The check that failed last, while it keeps failing: logged once, not every interval. */
  private failing: string | null = null;
  private lastTickAt: number | null = null;
  private lagMs = 0;

  constructor(private readonly deps: WatchdogDeps) {}

  start(): void {
    const { intervalMs, log } = this.deps;
    if (intervalMs === null) {
      log.debug('systemd watchdog not enabled: nothing to feed');
      return;
    }
    if (this.timer) throw new Error('Watchdog.start() called twice');
    this.tick();
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The first failing check and why, or null when all pass. */
  firstFailure(): { name: string; reason: string } | null {
    const { maxLagMs } = this.deps;
    if (this.lagMs > maxLagMs) {
      return { name: 'event loop', reason: `the event loop lags ${Math.round(this.lagMs)} ms (limit ${maxLagMs} ms)` };
    }
    for (const check of this.deps.checks) {
      let result: boolean | string;
      try {
        result = check.ok();
      } catch (err) {
        result = `the check threw: ${(err as Error).message}`;
      }
      if (result !== true) return { name: check.name, reason: result === false ? 'unhealthy' : result };
    }
    return null;
  }

  private tick(): void {
    const { notifier, log, intervalMs } = this.deps;
    const now = (this.deps.now ?? (() => performance.now()))();
    if (this.lastTickAt !== null) this.lagMs = Math.max(0, now - this.lastTickAt - intervalMs!);
    this.lastTickAt = now;
    const failure = this.firstFailure();
    if (failure) {
      if (this.failing !== failure.name) {
        this.failing = failure.name;
        log.error('health check failed: no longer feeding the systemd watchdog, which will restart the agent', failure);
        this.report(notifier.status(`unhealthy: ${failure.name}: ${failure.reason}`));
      }
      return;
    }
    if (this.failing !== null) {
      log.warn('healthy again: feeding the systemd watchdog', { was: this.failing });
      this.failing = null;
      this.report(notifier.status('running'));
    }
    this.report(notifier.watchdog());
  }

  private report(sent: Promise<void>): void {
    sent.catch((err: Error) => this.deps.log.error('sd_notify failed', { error: err.message }));
  }
}
