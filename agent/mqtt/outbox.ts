/**
 * Messages that must not be lost (events, notices, statuses) wait in SQLite until the broker has
 * acknowledged them: mqtt.js's own offline queue is memory only and dies with the process.
 */
import type { Db } from '../store/database.js';
import { migrate } from '../store/database.js';
import type { Logger } from '../log.js';

export interface OutboxMessage {
  id: number;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

export interface SetAside {
  id: number;
  topic: string;
  attempts: number;
  error: string;
}

export interface Publisher {
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

const MIGRATIONS = [
  `CREATE TABLE outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     topic TEXT NOT NULL,
     payload BLOB NOT NULL,
     qos INTEGER NOT NULL,
     retain INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  // A message the broker keeps refusing is set aside (kept, not retried) so the rest can flow.
  `ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE outbox ADD COLUMN last_error TEXT;
   ALTER TABLE outbox ADD COLUMN set_aside_at INTEGER;`,
];

/** Failed deliveries of one message before it is set aside (a refused topic fails every time). */
export const OUTBOX_MAX_ATTEMPTS = 3;

/** Beyond this many waiting messages the oldest are dropped (logged): weeks offline must not fill the disk. */
export const OUTBOX_LIMIT = 10_000;

export class Outbox {
  private flushing: Promise<void> | null = null;
  private statements!: {
    insert: import('better-sqlite3').Statement;
    next: import('better-sqlite3').Statement;
    remove: import('better-sqlite3').Statement;
    failed: import('better-sqlite3').Statement;
    setAside: import('better-sqlite3').Statement;
    count: import('better-sqlite3').Statement;
    countSetAside: import('better-sqlite3').Statement;
    trim: import('better-sqlite3').Statement;
  };

  constructor(
    private readonly deps: {
      db: Db;
      log: Logger;
      now: () => number;
      /** Told about each message set aside (the agent audits it and shows it in the state). */
      onSetAside?: (message: SetAside) => void;
    },
  ) {}

  start(): void {
    migrate(this.deps.db, 'outbox', MIGRATIONS);
    const db = this.deps.db;
    this.statements = {
      insert: db.prepare('INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?)'),
      next: db.prepare(
        'SELECT id, topic, payload, qos, retain, attempts FROM outbox WHERE id > ? AND set_aside_at IS NULL ORDER BY id LIMIT 50',
      ),
      remove: db.prepare('DELETE FROM outbox WHERE id = ?'),
      failed: db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?'),
      setAside: db.prepare('UPDATE outbox SET set_aside_at = ? WHERE id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL'),
      countSetAside: db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NOT NULL'),
      trim: db.prepare('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)'),
    };
  }

  /** Stores a message for the next flush; returns its row id. */
  enqueue(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): number {
    const { insert, count, trim } = this.statements;
    const id = Number(insert.run(topic, payload, opts.qos, opts.retain ? 1 : 0, this.deps.now()).lastInsertRowid);
    const n = (count.get() as { n: number }).n + this.setAside();
    if (n > OUTBOX_LIMIT) {
      trim.run(n - OUTBOX_LIMIT);
      this.deps.log.warn('outbox full: dropped the oldest undelivered messages', { dropped: n - OUTBOX_LIMIT });
    }
    return id;
  }

  /**
   * Stores a message and delivers it after everything already waiting. When nothing waits or is in
   * flight, the message goes to the broker first and its row is written a moment later: the write's
   * fsync (a few ms, tens of ms at the tail on a busy SD card) then overlaps the broker's round trip
   * instead of delaying a ring. Nothing is weaker for it: until the write, the bytes are in the
   * kernel's socket buffer, which survives the process; a power cut loses an unsynced row either way.
   * A message acknowledged before its write is not written at all; one that fails is retried like any
   * other; one whose write fails (a full disk) was still sent once, which beats not at all.
   */
  send(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }, publisher: Publisher): Promise<void> {
    if (this.busy()) {
      this.enqueue(topic, payload, opts);
      return this.flush(publisher);
    }
    this.flushing = this.sendFirst(topic, payload, opts, publisher)
      .then(() => this.drain(publisher))
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  private async sendFirst(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }, publisher: Publisher): Promise<void> {
    let acknowledged = false;
    const delivery = publisher.publish(topic, payload, opts).then(() => {
      acknowledged = true;
    });
    // mqtt.js hands the packet to the socket on a later tick of this turn; the row is written after it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    let id: number | null = null;
    try {
      if (!acknowledged) id = this.enqueue(topic, payload, opts);
    } catch (err) {
      this.deps.log.error('a message went to the broker but could not be stored: it is not resent if the broker loses it', {
        topic,
        error: (err as Error).message,
      });
    }
    try {
      await delivery;
    } catch (err) {
      if (id !== null) this.failed({ id, topic, attempts: 0 }, err as Error);
      throw err;
    }
    if (id !== null) this.statements.remove.run(id);
  }

  /** Messages waiting for delivery (not counting those set aside). */
  pending(): number {
    return (this.statements.count.get() as { n: number }).n;
  }

  /** Whether a reliable message is waiting or on its way (sent first, not yet stored or acknowledged). */
  busy(): boolean {
    return this.flushing !== null || this.pending() > 0;
  }

  /** Messages the broker refused OUTBOX_MAX_ATTEMPTS times: kept for inspection, never retried. */
  setAside(): number {
    return (this.statements.countSetAside.get() as { n: number }).n;
  }

  /**
   * Publishes everything waiting, in order; a message is deleted only after the broker acknowledged
   * it. A failure pauses delivery (the caller retries) unless it was that message's last chance:
   * then it is set aside and the next one goes.
   */
  flush(publisher: Publisher): Promise<void> {
    this.flushing ??= this.drain(publisher).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(publisher: Publisher): Promise<void> {
    let after = 0;
    for (;;) {
      const rows = this.statements.next.all(after) as {
        id: number;
        topic: string;
        payload: Buffer;
        qos: number;
        retain: number;
        attempts: number;
      }[];
      if (rows.length === 0) return;
      for (const row of rows) {
        try {
          await publisher.publish(row.topic, row.payload, { qos: row.qos === 1 ? 1 : 0, retain: row.retain === 1 });
        } catch (err) {
          this.failed(row, err as Error);
          after = row.id;
          continue;
        }
        this.statements.remove.run(row.id);
        after = row.id;
      }
    }
  }

  /** Counts a failed delivery: throws to pause delivery, unless it was the message's last chance (then it is set aside). */
  private failed(row: { id: number; topic: string; attempts: number }, err: Error): void {
    const error = err.message;
    this.statements.failed.run(error, row.id);
    if (row.attempts + 1 < OUTBOX_MAX_ATTEMPTS) throw err;
    this.statements.setAside.run(this.deps.now(), row.id);
    this.deps.log.error('outbox: set a message aside after repeated failures; the rest flows', { id: row.id, topic: row.topic, error });
    try {
      this.deps.onSetAside?.({ id: row.id, topic: row.topic, attempts: row.attempts + 1, error });
    } catch (notifyErr) {
      this.deps.log.error('could not record the set-aside message', { id: row.id, error: (notifyErr as Error).message });
    }
  }
}
