/**
 * Folds floods of refused messages into at most one audit entry per topic per second, each carrying
 * how many refusals it stands for, so a flood cannot fill the disk and no refusal goes uncounted.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export interface RefusalRow {
  topic: string;
  /** The latest refusal's reason and data; `count` and `reasons` cover every refusal folded in. */
  reason: string;
  data: Record<string, unknown>;
  count: number;
  reasons: Record<string, number>;
}

interface Pending {
  count: number;
  reasons: Map<string, number>;
  reason: string;
  data: Record<string, unknown>;
}

interface Burst {
  /** The second (clock ms / 1000) in which this topic's last row was written. */
  second: number;
  pending?: Pending;
  timer?: NodeJS.Timeout;
}

export interface RefusalBurstsDeps {
  clock: Clock;
  log: Logger;
  write(row: RefusalRow): void;
}

export class RefusalBursts {
  // One small record per topic ever refused; the device subscribes to a bounded set of topics.
  private readonly bursts = new Map<string, Burst>();

  constructor(private readonly deps: RefusalBurstsDeps) {}

  add(topic: string, reason: string, data: Record<string, unknown>): void {
    const second = this.second();
    const burst = this.bursts.get(topic);
    const pending = fold(burst?.pending, reason, data);
    if (burst && burst.second >= second) {
      burst.pending = pending;
      this.scheduleFlush(topic, burst);
      return;
    }
    this.deps.write(toRow(topic, pending));
    if (burst) clearTimeout(burst.timer);
    this.bursts.set(topic, { second });
  }

  /** Writes every pending count now, even within the same second: stopping must not lose one. */
  flushAll(): void {
    for (const [topic, burst] of this.bursts) {
      clearTimeout(burst.timer);
      burst.timer = undefined;
      if (burst.pending) {
        this.deps.write(toRow(topic, burst.pending));
        burst.pending = undefined;
      }
    }
  }

  private second(): number {
    return Math.floor(this.deps.clock.now() / 1000);
  }

  /** Writes the folded count once the next second has begun, so it does not wait for another refusal. */
  private scheduleFlush(topic: string, burst: Burst): void {
    if (burst.timer) return;
    burst.timer = setTimeout(() => {
      burst.timer = undefined;
      if (!burst.pending) return;
      const second = this.second();
      if (second <= burst.second) return this.scheduleFlush(topic, burst);
      try {
        this.deps.write(toRow(topic, burst.pending));
        burst.pending = undefined;
        burst.second = second;
      } catch (err) {
        this.deps.log.error('writing a refusal summary to the audit log failed; will retry', { topic, err });
        this.scheduleFlush(topic, burst);
      }
    }, 1001 - (this.deps.clock.now() % 1000));
    burst.timer.unref();
  }
}

function fold(pending: Pending | undefined, reason: string, data: Record<string, unknown>): Pending {
  const next = pending ?? { count: 0, reasons: new Map<string, number>(), reason, data };
  next.count++;
  next.reasons.set(reason, (next.reasons.get(reason) ?? 0) + 1);
  next.reason = reason;
  next.data = data;
  return next;
}

function toRow(topic: string, p: Pending): RefusalRow {
  return { topic, reason: p.reason, data: p.data, count: p.count, reasons: Object.fromEntries(p.reasons) };
}
