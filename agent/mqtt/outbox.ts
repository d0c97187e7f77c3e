/**
 * Messages that must not be lost (events, notices, statuses, receipts) wait in SQLite until the
 * broker has acknowledged them: mqtt.js's own offline queue is memory only and dies with the process.
 * Ordered messages leave one at a time in the order they were queued; an independent one (a
 * requester's receipt) is delivered on its own and neither waits behind nor holds back any other.
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

export interface EnqueueOptions {
  qos: 0 | 1;
  retain: boolean;
  /** Outside the ordered stream: for a message whose topic someone else chose (a requester's receipt). */
  independent?: boolean;
}

export interface Publisher {
  /** Rejects with BrokerOffline when the message never reached the broker: that is not a failed attempt. */
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

/** The broker went away before the message was handed to it: delivery waits for the next connection. */
export class BrokerOffline extends Error {
  constructor() {
    super('broker disconnected');
  }
}

interface Row {
  id: number;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  attempts: number;
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
  `ALTER TABLE outbox ADD COLUMN independent INTEGER NOT NULL DEFAULT 0`,
];

/** Failed deliveries of one message before it is set aside (a refused topic fails every time). */
export const OUTBOX_MAX_ATTEMPTS = 3;

/** Beyond this many waiting messages the oldest are dropped (logged): weeks offline must not fill the disk. */
export const OUTBOX_LIMIT = 10_000;

export class Outbox {
  /** Delivery under way, per kind: the two never wait for each other. */
  private readonly flushing: { ordered: Promise<void> | null; independent: Promise<void> | null } = { ordered: null, independent: null };
  private statements!: {
    insert: import('better-sqlite3').Statement;
    next: import('better-sqlite3').Statement;
    independent: import('better-sqlite3').Statement;
    remove: import('better-sqlite3').Statement;
    failed: import('better-sqlite3').Statement;
    setAside: import('better-sqlite3').Statement;
    count: import('better-sqlite3').Statement;
    countOrdered: import('better-sqlite3').Statement;
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
      insert: db.prepare('INSERT INTO outbox (topic, payload, qos, retain, independent, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
      next: db.prepare(
        'SELECT id, topic, payload, qos, retain, attempts FROM outbox WHERE independent = 0 AND id > ? AND set_aside_at IS NULL ORDER BY id LIMIT 50',
      ),
      independent: db.prepare(
        'SELECT id, topic, payload, qos, retain, attempts FROM outbox WHERE independent = 1 AND set_aside_at IS NULL ORDER BY attempts, id',
      ),
      remove: db.prepare('DELETE FROM outbox WHERE id = ?'),
      failed: db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?'),
      setAside: db.prepare('UPDATE outbox SET set_aside_at = ? WHERE id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL'),
      countOrdered: db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL AND independent = 0'),
      countSetAside: db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NOT NULL'),
      trim: db.prepare('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)'),
    };
  }

  /** Stores a message for the next flush; returns its row id. */
  enqueue(topic: string, payload: Buffer, opts: EnqueueOptions): number {
    const { insert, count, trim } = this.statements;
    const id = Number(insert.run(topic, payload, opts.qos, opts.retain ? 1 : 0, opts.independent ? 1 : 0, this.deps.now()).lastInsertRowid);
    const n = (count.get() as { n: number }).n + this.setAside();
    if (n > OUTBOX_LIMIT) {
      trim.run(n - OUTBOX_LIMIT);
      this.deps.log.warn('outbox full: dropped the oldest undelivered messages', { dropped: n - OUTBOX_LIMIT });
    }
    return id;
  }

  /**
   * Stores an ordered message and delivers it after everything already waiting. When nothing waits or
   * is in flight, the message goes to the broker first and its row is written a moment later: the write's
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
    this.flushing.ordered = this.sendFirst(topic, payload, opts, publisher)
      .then(() => this.drainOrdered(publisher))
      .finally(() => {
        this.flushing.ordered = null;
      });
    return this.flushing.ordered;
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
      if (id !== null && !(err instanceof BrokerOffline)) this.failed({ id, topic, attempts: 0 }, err as Error);
      throw err;
    }
    if (id !== null) this.statements.remove.run(id);
  }

  /** Messages waiting for delivery (not counting those set aside). */
  pending(): number {
    return (this.statements.count.get() as { n: number }).n;
  }

  /** Whether an ordered message is waiting or on its way: what a superseded message (progress) must not overtake. */
  busy(): boolean {
    return this.flushing.ordered !== null || (this.statements.countOrdered.get() as { n: number }).n > 0;
  }

  /** Messages the broker refused OUTBOX_MAX_ATTEMPTS times: kept for inspection, never retried. */
  setAside(): number {
    return (this.statements.countSetAside.get() as { n: number }).n;
  }

  /**
   * Publishes everything waiting; a message is deleted only after the broker acknowledged it. Ordered
   * messages go one at a time: a failure pauses them (the caller retries) unless it was that message's
   * last chance, when it is set aside and the next one goes. Independent messages go one at a time
   * beside them, each failing alone.
   */
  flush(publisher: Publisher): Promise<void> {
    this.flushing.ordered ??= this.drainOrdered(publisher).finally(() => {
      this.flushing.ordered = null;
    });
    this.flushing.independent ??= this.drainIndependent(publisher).finally(() => {
      this.flushing.independent = null;
    });
    return Promise.all([this.flushing.ordered, this.flushing.independent]).then(() => undefined);
  }

  private async drainOrdered(publisher: Publisher): Promise<void> {
    for (let after = 0; ; ) {
      const rows = this.statements.next.all(after) as Row[];
      if (rows.length === 0) return;
      for (const row of rows) {
        await this.deliver(row, publisher);
        after = row.id;
      }
    }
  }

  /**
   * One pass over the independent messages, one at a time (a broker that drops the connection for a
   * refused one fails whatever else is in flight too), those that failed least first: a message the
   * broker refuses goes behind the others. Each failure is that message's alone; the first is
   * rethrown at the end so the caller tries again.
   */
  private async drainIndependent(publisher: Publisher): Promise<void> {
    let failure: unknown = null;
    const tried = new Set<number>();
    for (;;) {
      const rows = (this.statements.independent.all() as Row[]).filter((row) => !tried.has(row.id));
      if (rows.length === 0) break;
      for (const row of rows) {
        tried.add(row.id);
        try {
          await this.deliver(row, publisher);
        } catch (err) {
          if (err instanceof BrokerOffline) throw err;
          failure ??= err;
        }
      }
    }
    if (failure) throw failure;
  }

  /** One attempt at one row: deleted once acknowledged; a failure is counted (see failed()). */
  private async deliver(row: Row, publisher: Publisher): Promise<void> {
    try {
      await publisher.publish(row.topic, row.payload, { qos: row.qos === 1 ? 1 : 0, retain: row.retain === 1 });
    } catch (err) {
      if (err instanceof BrokerOffline) throw err;
      this.failed(row, err as Error);
      return;
    }
    this.statements.remove.run(row.id);
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
