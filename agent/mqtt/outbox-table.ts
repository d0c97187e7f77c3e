/** The outbox's SQLite table: one row per message waiting for the broker (or set aside). */
import type { Db } from '../store/database.js';
import { migrate } from '../store/database.js';

export interface OutboxRow {
  id: number;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  attempts: number;
}

/** What to write about a row that the disk refused at the time. */
export interface RowAmendment {
  delivered: boolean;
  failures: number;
  error: string | null;
  setAsideAt: number | null;
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
  // A requester's receipt travels outside the ordered stream.
  `ALTER TABLE outbox ADD COLUMN independent INTEGER NOT NULL DEFAULT 0`,
];

type Statement = import('better-sqlite3').Statement;

export class OutboxTable {
  private sql!: Record<
    'insert' | 'ordered' | 'independent' | 'remove' | 'failed' | 'setAside' | 'amend' | 'count' | 'countOrdered' | 'countSetAside' | 'trim',
    Statement
  >;

  constructor(private readonly db: Db) {}

  start(): void {
    migrate(this.db, 'outbox', MIGRATIONS);
    const columns = 'id, topic, payload, qos, retain, attempts';
    const prepare = (text: string): Statement => this.db.prepare(text);
    this.sql = {
      insert: prepare('INSERT INTO outbox (topic, payload, qos, retain, independent, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      ordered: prepare(`SELECT ${columns} FROM outbox WHERE independent = 0 AND id > ? AND set_aside_at IS NULL ORDER BY id LIMIT 50`),
      // Those that failed least first: one the broker refuses goes behind the others.
      independent: prepare(`SELECT ${columns} FROM outbox WHERE independent = 1 AND set_aside_at IS NULL ORDER BY attempts, id`),
      remove: prepare('DELETE FROM outbox WHERE id = ?'),
      failed: prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?'),
      setAside: prepare('UPDATE outbox SET set_aside_at = ? WHERE id = ?'),
      amend: prepare(
        'UPDATE outbox SET attempts = attempts + ?, last_error = coalesce(?, last_error), set_aside_at = coalesce(?, set_aside_at) WHERE id = ?',
      ),
      count: prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL'),
      countOrdered: prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL AND independent = 0'),
      countSetAside: prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NOT NULL'),
      trim: prepare('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)'),
    };
  }

  insert(m: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean; attempts: number }, independent: boolean, now: number): number {
    return Number(this.sql.insert.run(m.topic, m.payload, m.qos, m.retain ? 1 : 0, independent ? 1 : 0, m.attempts, now).lastInsertRowid);
  }

  /** Up to 50 ordered rows after `after`, in order. */
  ordered(after: number): OutboxRow[] {
    return this.sql.ordered.all(after) as OutboxRow[];
  }

  independent(): OutboxRow[] {
    return this.sql.independent.all() as OutboxRow[];
  }

  remove(id: number): void {
    this.sql.remove.run(id);
  }

  failed(id: number, error: string): void {
    this.sql.failed.run(error, id);
  }

  setAside(id: number, at: number): void {
    this.sql.setAside.run(at, id);
  }

  amend(id: number, a: RowAmendment): void {
    if (a.delivered) this.sql.remove.run(id);
    else this.sql.amend.run(a.failures, a.error, a.setAsideAt, id);
  }

  /** Rows waiting (not set aside); `ordered`: only those of the ordered stream. */
  waiting(opts: { ordered?: boolean } = {}): number {
    return ((opts.ordered ? this.sql.countOrdered : this.sql.count).get() as { n: number }).n;
  }

  setAsideCount(): number {
    return (this.sql.countSetAside.get() as { n: number }).n;
  }

  /** Deletes the `n` oldest rows. */
  trim(n: number): void {
    this.sql.trim.run(n);
  }
}
