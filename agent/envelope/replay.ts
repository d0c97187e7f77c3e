/**
 * Replay rules for what the device sends (protocol.md "Freshness"). Every device message carries a
 * `seq` that only grows. Per stream (the topic, plus the request for notices and statuses), a reader
 * accepts a higher seq, ignores the same seq again (a retained copy or a resend) and refuses a lower
 * one: an older retained copy, or an old message replayed by someone on the broker.
 */
export type Verdict = 'fresh' | 'duplicate' | 'stale';

export class SeqGuard {
  private readonly highest: Map<string, number>;

  /** `saved` is what toJSON() returned earlier: a phone keeps it across reloads. */
  constructor(saved: Record<string, number> = {}) {
    this.highest = new Map(Object.entries(saved));
  }

  check(stream: string, seq: number): Verdict {
    const last = this.highest.get(stream);
    if (last === undefined || seq > last) return 'fresh';
    return seq === last ? 'duplicate' : 'stale';
  }

  accept(stream: string, seq: number): void {
    if (this.check(stream, seq) === 'fresh') this.highest.set(stream, seq);
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.highest);
  }
}

/** An owner's message (ask, decision) counts only within this much of the device's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export function isTimely(at: string, now: number, skewMs = MAX_CLOCK_SKEW_MS): boolean {
  const t = Date.parse(at);
  return Number.isFinite(t) && Math.abs(now - t) <= skewMs;
}
