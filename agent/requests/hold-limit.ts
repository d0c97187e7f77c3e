/**
 * requests.maxHoldDays: a request's holds never outlive the owner's limit. A pending request held
 * that long expires; an approved upload still running that long is cancelled; either way its clips
 * go back to normal eviction (storage.maxBytes, storage.maxAgeDays).
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RequestRow } from './request-table.js';

export interface HoldLimitDeps {
  maxHoldDays: number;
  /** Requests that hold clips: pending, approved, uploading. */
  holding(): RequestRow[];
  release(row: RequestRow, detail: string): void;
  clock: Clock;
  log: Logger;
}

export class HoldLimit {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: HoldLimitDeps) {}

  start(): void {
    this.sweep();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Re-arms the timer for the oldest hold (after a new request). */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = Math.min(...this.deps.holding().map((r) => r.receivedAt + this.maxHoldMs()));
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, next - this.deps.clock.now()) + 10;
    this.timer = setTimeout(() => this.sweep(), Math.min(delay, 2 ** 31 - 1));
  }

  private maxHoldMs(): number {
    return this.deps.maxHoldDays * 24 * 3600_000;
  }

  private sweep(): void {
    // A timer callback: a failure (a full disk) is logged and retried at the next schedule, never thrown.
    try {
      const cutoff = this.deps.clock.now() - this.maxHoldMs();
      for (const row of this.deps.holding()) {
        if (row.receivedAt > cutoff) continue;
        this.deps.release(row, `held longer than requests.maxHoldDays (${this.deps.maxHoldDays} days): holds released`);
      }
    } catch (err) {
      this.deps.log.error('could not release holds past requests.maxHoldDays', { error: (err as Error).message });
    }
    this.schedule();
  }
}
