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
];

/** Beyond this many waiting messages the oldest are dropped (logged): weeks offline must not fill the disk. */
export const OUTBOX_LIMIT = 10_000;

export class Outbox {
  private flushing: Promise<void> | null = null;
  private statements!: {
    insert: import('better-sqlite3').Statement;
    next: import('better-sqlite3').Statement;
    remove: import('better-sqlite3').Statement;
    count: import('better-sqlite3').Statement;
    trim: import('better-sqlite3').Statement;
  };

  constructor(private readonly deps: { db: Db; log: Logger; now: () => number }) {}

  start(): void {
    migrate(this.deps.db, 'outbox', MIGRATIONS);
    const db = this.deps.db;
    this.statements = {
      insert: db.prepare('INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?)'),
      next: db.prepare('SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT 50'),
      remove: db.prepare('DELETE FROM outbox WHERE id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM outbox'),
      trim: db.prepare('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)'),
    };
  }

  enqueue(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): void {
    const { insert, count, trim } = this.statements;
    insert.run(topic, payload, opts.qos, opts.retain ? 1 : 0, this.deps.now());
    const { n } = count.get() as { n: number };
    if (n > OUTBOX_LIMIT) {
      trim.run(n - OUTBOX_LIMIT);
      this.deps.log.warn('outbox full: dropped the oldest undelivered messages', { dropped: n - OUTBOX_LIMIT });
    }
  }

  pending(): number {
    return (this.statements.count.get() as { n: number }).n;
  }

  /** Publishes everything waiting, in order; a message is deleted only after the broker acknowledged it. */
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
      }[];
      if (rows.length === 0) return;
      for (const row of rows) {
        await publisher.publish(row.topic, row.payload, { qos: row.qos === 1 ? 1 : 0, retain: row.retain === 1 });
        this.statements.remove.run(row.id);
        after = row.id;
      }
    }
  }
}
