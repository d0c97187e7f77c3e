/**
 * A log of leaf hashes kept in one SQLite table with every complete subtree beside it, so a log of any
 * length answers roots and proofs with O(log n) lookups. The database is passed in (structurally typed),
 * so this file stays free of Node imports; the caller owns the table's migration and transactions.
 */
import { nodeHash, type LeafSource } from './merkle.js';

interface SqlStatement {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
}

/** The table a SqliteTree needs, for the caller's migration. */
export function sqliteTreeSchema(table: string): string {
  return `CREATE TABLE ${table} (
     level INTEGER NOT NULL,
     idx INTEGER NOT NULL,
     hash BLOB NOT NULL,
     PRIMARY KEY (level, idx)
   ) WITHOUT ROWID`;
}

export class SqliteTree implements LeafSource {
  private statements: { size: SqlStatement; node: SqlStatement; insert: SqlStatement } | undefined;

  constructor(
    private readonly db: SqlDatabase,
    private readonly table: string,
  ) {}

  get size(): number {
    const row = this.prepared().size.get() as { size: number | null } | undefined;
    return row?.size ?? 0;
  }

  leaf(index: number): Uint8Array {
    const hash = this.node(0, index);
    if (!hash) throw new Error(`no leaf ${index} in ${this.table}`);
    return hash;
  }

  subtree(index: number, level: number): Uint8Array | undefined {
    return this.node(level, index / 2 ** level);
  }

  /** Appends one leaf HASH at `index` (which must be the current size) and every subtree it completes. */
  append(index: number, leafHash: Uint8Array): void {
    const { insert } = this.prepared();
    insert.run(0, index, leafHash);
    let level = 0;
    let position = index;
    let hash = leafHash;
    while (position % 2 === 1) {
      const left = this.node(level, position - 1);
      if (!left) throw new Error(`${this.table} lacks node ${level}/${position - 1}: rebuild it from the log`);
      hash = nodeHash(left, hash);
      level++;
      position = (position - 1) / 2;
      insert.run(level, position, hash);
    }
  }

  private node(level: number, idx: number): Uint8Array | undefined {
    const row = this.prepared().node.get(level, idx) as { hash: Uint8Array } | undefined;
    return row ? new Uint8Array(row.hash) : undefined;
  }

  private prepared() {
    this.statements ??= {
      size: this.db.prepare(`SELECT MAX(idx) + 1 AS size FROM ${this.table} WHERE level = 0`),
      node: this.db.prepare(`SELECT hash FROM ${this.table} WHERE level = ? AND idx = ?`),
      insert: this.db.prepare(`INSERT INTO ${this.table} (level, idx, hash) VALUES (?, ?, ?)`),
    };
    return this.statements;
  }
}
