/**
 * The board's append-only log in SQLite: every accepted request or withdrawal is one entry, a leaf
 * of an RFC 6962 tree (agent/tlog), and every append signs a new C2SP checkpoint in the same
 * transaction, committed (synchronous=FULL) before the board answers. Nothing is ever deleted.
 */
import { migrate, openDatabase, type Db } from '../store/database.js';
import {
  base64Encode,
  consistencyProof,
  formatCheckpoint,
  inclusionProof,
  leafHash,
  rootHash,
  signNote,
  SqliteTree,
  sqliteTreeSchema,
} from '../tlog/index.js';
import { boardEntryBytes, type SignedEnvelope } from '../requests/index.js';
import type { BoardKey } from './board-key.js';

const MIGRATIONS = [
  `CREATE TABLE entries (
     idx INTEGER PRIMARY KEY,
     type TEXT NOT NULL,
     key_id TEXT NOT NULL,
     request_id TEXT NOT NULL,
     envelope TEXT NOT NULL,
     topic TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     relayed INTEGER NOT NULL DEFAULT 0
   )`,
  'CREATE UNIQUE INDEX entries_by_request ON entries (type, request_id)',
  'CREATE INDEX entries_by_key ON entries (key_id, idx)',
  sqliteTreeSchema('tree'),
  'CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL)',
];

export interface Entry {
  index: number;
  type: 'request' | 'withdrawal';
  keyId: string;
  requestId: string;
  envelope: SignedEnvelope & { vouch?: SignedEnvelope };
  topic: string;
  receivedAt: number;
  relayed: boolean;
}

interface Raw {
  idx: number;
  type: string;
  key_id: string;
  request_id: string;
  envelope: string;
  topic: string;
  received_at: number;
  relayed: number;
}

const fromRaw = (r: Raw): Entry => ({
  index: r.idx,
  type: r.type === 'withdrawal' ? 'withdrawal' : 'request',
  keyId: r.key_id,
  requestId: r.request_id,
  envelope: JSON.parse(r.envelope) as Entry['envelope'],
  topic: r.topic,
  receivedAt: r.received_at,
  relayed: r.relayed === 1,
});

export class BoardLog {
  private db!: Db;
  private tree!: SqliteTree;

  constructor(
    private readonly file: string,
    private readonly key: BoardKey,
  ) {}

  start(): void {
    this.db = openDatabase(this.file);
    migrate(this.db, 'board', MIGRATIONS);
    this.tree = new SqliteTree(this.db, 'tree');
    // A crash between tree rows and entry rows cannot happen (one transaction), but check anyway.
    const entries = (this.db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n;
    if (entries !== this.tree.size) throw new Error(`board log damaged: ${entries} entries but ${this.tree.size} leaves`);
    if (entries === 0 && !this.checkpoint(0)) this.db.prepare('INSERT INTO checkpoints (size, note) VALUES (0, ?)').run(this.sign(0));
  }

  private sign(size: number): string {
    const body = formatCheckpoint({ origin: this.key.name, size, rootHash: rootHash(this.tree, size), extensions: [] });
    return signNote(body, this.key.name, this.key.sign, this.key.pair.publicKeyRaw);
  }

  stop(): void {
    this.db?.close();
  }

  get size(): number {
    return this.tree.size;
  }

  /** Appends one entry and signs the checkpoint that includes it, atomically; returns the entry. */
  append(e: Omit<Entry, 'index' | 'relayed'>): Entry {
    return this.db.transaction(() => {
      const index = this.tree.size;
      const type = e.type;
      const { vouch: _vouch, ...signed } = e.envelope;
      this.db
        .prepare('INSERT INTO entries (idx, type, key_id, request_id, envelope, topic, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(index, type, e.keyId, e.requestId, JSON.stringify(e.envelope), e.topic, e.receivedAt);
      this.tree.append(index, leafHash(boardEntryBytes(type, signed)));
      this.db.prepare('INSERT INTO checkpoints (size, note) VALUES (?, ?)').run(index + 1, this.sign(index + 1));
      return { ...e, index, relayed: false };
    })();
  }

  markRelayed(index: number): void {
    this.db.prepare('UPDATE entries SET relayed = 1 WHERE idx = ?').run(index);
  }

  entry(index: number): Entry | undefined {
    const raw = this.db.prepare('SELECT * FROM entries WHERE idx = ?').get(index) as Raw | undefined;
    return raw ? fromRaw(raw) : undefined;
  }

  /** The exact bytes of entry `index`'s leaf. */
  entryBytes(e: Entry): Uint8Array {
    const { vouch: _vouch, ...signed } = e.envelope;
    return boardEntryBytes(e.type, signed);
  }

  findRequest(requestId: string): Entry | undefined {
    const raw = this.db.prepare("SELECT * FROM entries WHERE type = 'request' AND request_id = ?").get(requestId) as Raw | undefined;
    return raw ? fromRaw(raw) : undefined;
  }

  withdrawn(requestId: string): Entry | undefined {
    const raw = this.db.prepare("SELECT * FROM entries WHERE type = 'withdrawal' AND request_id = ?").get(requestId) as Raw | undefined;
    return raw ? fromRaw(raw) : undefined;
  }

  newest(limit: number, before?: number): Entry[] {
    const rows = this.db
      .prepare('SELECT * FROM entries WHERE idx < ? ORDER BY idx DESC LIMIT ?')
      .all(before ?? Number.MAX_SAFE_INTEGER, limit) as Raw[];
    return rows.map(fromRaw);
  }

  byKey(keyId: string): Entry[] {
    return (this.db.prepare('SELECT * FROM entries WHERE key_id = ? ORDER BY idx DESC').all(keyId) as Raw[]).map(fromRaw);
  }

  unrelayed(): Entry[] {
    return (this.db.prepare("SELECT * FROM entries WHERE relayed = 0 AND type = 'request' ORDER BY idx").all() as Raw[]).map(fromRaw);
  }

  /** The signed checkpoint of `size` entries (default: the newest). */
  checkpoint(size = this.size): string | undefined {
    return (this.db.prepare('SELECT note FROM checkpoints WHERE size = ?').get(size) as { note: string } | undefined)?.note;
  }

  inclusion(index: number, size: number): string[] {
    return inclusionProof(this.tree, index, size).map(base64Encode);
  }

  consistency(oldSize: number, newSize: number): string[] {
    return consistencyProof(this.tree, oldSize, newSize).map(base64Encode);
  }

  leaves(from: number, to: number): string[] {
    const out: string[] = [];
    for (let i = from; i < to; i++) out.push(base64Encode(this.tree.leaf(i)));
    return out;
  }
}
