/**
 * Refused messages, summarised without losing one. The first refusal on a topic in a second becomes
 * an audit entry at once; the rest of that second are folded into a pending row of the database,
 * committed before the refusal returns, so a SIGKILL right after loses nothing. The pending row
 * becomes one summary entry (counting every reason and sender) when the second is over, at stop,
 * or at the next start. A flood therefore costs at most two entries per topic per second (the first
 * refusal and the summary of the rest), however many messages it sends.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';

export const REFUSAL_PENDING_SCHEMA = `CREATE TABLE audit_refusal_pending (
     topic TEXT PRIMARY KEY,
     count INTEGER NOT NULL,
     reasons TEXT NOT NULL,
     senders TEXT NOT NULL,
     reason TEXT NOT NULL,
     data TEXT NOT NULL
   )`;

export interface RefusalRow {
  topic: string;
  /** The latest refusal's reason and data; `count`, `reasons` and `senders` cover every refusal folded in. */
  reason: string;
  data: Record<string, unknown>;
  count: number;
  reasons: Record<string, number>;
  senders: Record<string, number>;
}

interface Burst {
  /** The second (clock ms / 1000) in which this topic's last entry was written. */
  second: number;
  timer?: NodeJS.Timeout;
}

export interface RefusalBurstsDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  /** Appends the entry; runs inside the transaction that also clears the pending row. */
  write(row: RefusalRow): void;
}

interface PendingRecord {
  topic: string;
  count: number;
  reasons: string;
  senders: string;
  reason: string;
  data: string;
}

/** Who sent a refused message, as far as it said: a requester or owner key id, or a requester name. */
export function senderOf(data: Record<string, unknown>): string {
  const named = data.requesterKeyId ?? data.keyId ?? data.requester;
  return typeof named === 'string' && named ? named : 'unknown';
}

export class RefusalBursts {
  // One small record per topic ever refused; the device subscribes to a bounded set of topics.
  private readonly bursts = new Map<string, Burst>();

  constructor(private readonly deps: RefusalBurstsDeps) {}

  /** Turns pending rows a killed process left behind into summary entries. */
  start(): void {
    this.flushAll();
  }

  add(topic: string, reason: string, data: Record<string, unknown>): void {
    const second = this.second();
    const burst = this.bursts.get(topic);
    if (burst && burst.second >= second) {
      this.fold(topic, reason, data);
      this.scheduleFlush(topic, burst);
      return;
    }
    this.deps.db.transaction(() => {
      // Refusals still folded from an earlier second go into this second's one entry with it.
      if (this.hasPending(topic)) {
        this.fold(topic, reason, data);
        this.flushTopic(topic);
      } else this.deps.write({ topic, reason, data, count: 1, reasons: { [reason]: 1 }, senders: { [senderOf(data)]: 1 } });
    })();
    if (burst) clearTimeout(burst.timer);
    this.bursts.set(topic, { second });
  }

  /** Writes every pending summary now, even within the same second: stopping must not delay one. */
  flushAll(): void {
    for (const burst of this.bursts.values()) {
      clearTimeout(burst.timer);
      burst.timer = undefined;
    }
    const topics = this.deps.db.prepare('SELECT topic FROM audit_refusal_pending ORDER BY rowid').pluck().all() as string[];
    for (const topic of topics) this.deps.db.transaction(() => this.flushTopic(topic))();
  }

  private hasPending(topic: string): boolean {
    return !!this.deps.db.prepare('SELECT 1 FROM audit_refusal_pending WHERE topic = ?').get(topic);
  }

  /**
   * The folded count is committed before returning; in WAL mode a commit without fsync survives the
   * process being killed (the operating system holds the write), and a flood is not slowed to the
   * disk's fsync rate. A power cut may lose the counts folded in its last second.
   */
  private fold(topic: string, reason: string, data: Record<string, unknown>): void {
    const { db } = this.deps;
    // SQLite cannot change the safety level inside a transaction: a caller's transaction commits it.
    if (db.inTransaction) return this.foldNow(topic, reason, data);
    const synchronous = db.pragma('synchronous', { simple: true }) as number;
    db.pragma('synchronous = NORMAL');
    try {
      this.foldNow(topic, reason, data);
    } finally {
      db.pragma(`synchronous = ${synchronous}`);
    }
  }

  private foldNow(topic: string, reason: string, data: Record<string, unknown>): void {
    const { db } = this.deps;
    db.transaction(() => {
      const row = db.prepare('SELECT * FROM audit_refusal_pending WHERE topic = ?').get(topic) as PendingRecord | undefined;
      const reasons = row ? (JSON.parse(row.reasons) as Record<string, number>) : {};
      const senders = row ? (JSON.parse(row.senders) as Record<string, number>) : {};
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      const sender = senderOf(data);
      senders[sender] = (senders[sender] ?? 0) + 1;
      db.prepare(
        `INSERT INTO audit_refusal_pending (topic, count, reasons, senders, reason, data) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(topic) DO UPDATE SET count = excluded.count, reasons = excluded.reasons, senders = excluded.senders,
           reason = excluded.reason, data = excluded.data`,
      ).run(topic, (row?.count ?? 0) + 1, JSON.stringify(reasons), JSON.stringify(senders), reason, JSON.stringify(data));
    })();
  }

  /** Inside the caller's transaction: the summary entry and the pending row's removal commit together. */
  private flushTopic(topic: string): void {
    const { db } = this.deps;
    const row = db.prepare('SELECT * FROM audit_refusal_pending WHERE topic = ?').get(topic) as PendingRecord | undefined;
    if (!row) return;
    this.deps.write({
      topic,
      reason: row.reason,
      data: JSON.parse(row.data) as Record<string, unknown>,
      count: row.count,
      reasons: JSON.parse(row.reasons) as Record<string, number>,
      senders: JSON.parse(row.senders) as Record<string, number>,
    });
    db.prepare('DELETE FROM audit_refusal_pending WHERE topic = ?').run(topic);
  }

  private second(): number {
    return Math.floor(this.deps.clock.now() / 1000);
  }

  /** Writes the folded count once the next second has begun, so it does not wait for another refusal. */
  private scheduleFlush(topic: string, burst: Burst): void {
    if (burst.timer) return;
    burst.timer = setTimeout(() => {
      burst.timer = undefined;
      const second = this.second();
      if (second <= burst.second) return this.scheduleFlush(topic, burst);
      try {
        this.deps.db.transaction(() => this.flushTopic(topic))();
        burst.second = second;
      } catch (err) {
        this.deps.log.error('writing a refusal summary to the audit log failed; will retry', { topic, err });
        this.scheduleFlush(topic, burst);
      }
    }, 1001 - (this.deps.clock.now() % 1000));
    burst.timer.unref();
  }
}
