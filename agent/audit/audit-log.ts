/**
 * The append-only audit log (docs/protocol.md "Audit log and transparency"): every entry is a leaf of
 * an RFC 6962 Merkle tree whose checkpoints the device key signs, and is also hash-chained (protocol
 * version 1) so `audit verify` can name a single edited row. Each append reads the head inside an
 * IMMEDIATE transaction, so a CLI command appending from another process while the agent runs still
 * extends the same log.
 */
import { iso, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { parseB64url } from '../owner/index.js';
import { migrate, type Db } from '../store/database.js';
import { consistencyProof, hex, inclusionProof, leafHash, rootHash, SqliteTree, sqliteTreeSchema } from '../tlog/index.js';
import { buildReport, type TransparencyReport } from './report.js';
import { chainHash, GENESIS_HASH } from './chain.js';
import { signCheckpoint } from './checkpoints.js';
import { evidenceProofs, type LogEvidence } from './evidence-proofs.js';
import { REFUSAL_PENDING_SCHEMA, RefusalBursts, type RefusalRow } from './refusal-bursts.js';

const MIGRATIONS = [
  `CREATE TABLE audit_log (
     seq INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     entry TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
  // Protocol v2: the Merkle tree over the entries (filled from the v1 rows at start) and the
  // refusals folded into a burst, kept durable until their summary entry is written.
  `${sqliteTreeSchema('audit_tree')};
   ${REFUSAL_PENDING_SCHEMA}`,
];

const ENTRY_KEYS = ['seq', 'at', 'type'];
const REFUSAL_KEYS = ['topic', 'reason', 'count', 'reasons', 'senders'];

export interface AuditSigner {
  /** Base64url Ed25519 signature. */
  sign(message: Buffer): string;
  /** Base64url of the raw public key. */
  publicKey: string;
}

/** One entry as stored: what happened, when, and its place in the log. */
export interface AuditEntry {
  seq: number;
  at: string;
  type: string;
  [key: string]: unknown;
}

export interface AuditHead {
  seq: number;
  head: string;
}

export interface AuditLogDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  signer: AuditSigner;
}

function prepareStatements(db: Db) {
  return {
    last: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
    insert: db.prepare<[number, number, string, string]>('INSERT INTO audit_log (seq, at, entry, hash) VALUES (?, ?, ?, ?)'),
    entry: db.prepare<[number], { entry: string }>('SELECT entry FROM audit_log WHERE seq = ?'),
  };
}
type Statements = ReturnType<typeof prepareStatements>;

export class AuditLog {
  private statements: Statements | undefined;
  private readonly listeners = new Set<(head: AuditHead, entry: AuditEntry) => void>();
  private readonly refusals: RefusalBursts;
  private readonly tree: SqliteTree;

  constructor(private readonly deps: AuditLogDeps) {
    this.refusals = new RefusalBursts({ db: deps.db, clock: deps.clock, log: deps.log, write: (row) => this.writeRefusal(row) });
    this.tree = new SqliteTree(deps.db, 'audit_tree');
  }

  start(): void {
    migrate(this.deps.db, 'audit', MIGRATIONS);
    this.statements = prepareStatements(this.deps.db);
    this.fillTree();
    this.refusals.start();
  }

  /** Writes any refusal counts still folded in memory. */
  stop(): void {
    if (this.statements) this.refusals.flushAll();
  }

  /** Appends `{"seq","at","type",...data}` as stored JSON text and returns its seq and chain hash. */
  append(type: string, data: Record<string, unknown> = {}): { seq: number; hash: string } {
    if (!type) throw new TypeError('an audit entry needs a type');
    rejectKeys(data, ENTRY_KEYS, 'audit entry data');
    const { last, insert } = this.prepared();
    const at = this.deps.clock.now();
    const written = this.deps.db
      .transaction(() => {
        const previous = last.get();
        const seq = (previous?.seq ?? 0) + 1;
        const record: AuditEntry = { seq, at: iso(at), type, ...data };
        const entry = JSON.stringify(record);
        const hash = chainHash(previous?.hash ?? GENESIS_HASH, entry);
        insert.run(seq, at, entry, hash);
        this.tree.append(this.tree.size, leafHash(Buffer.from(entry, 'utf8')));
        return { seq, hash, record };
      })
      .immediate();
    for (const listener of this.listeners) {
      try {
        listener({ seq: written.seq, head: written.hash }, written.record);
      } catch (err) {
        this.deps.log.error('audit append listener failed', { err });
      }
    }
    return { seq: written.seq, hash: written.hash };
  }

  /**
   * Records a refused inbound message, durably before returning. Bursts are summarised: the first
   * refusal of a topic in a second is an entry of its own, the rest of that second one summary entry
   * whose `count`, `reasons` and `senders` cover every refusal folded in.
   */
  appendRefusal(topic: string, reason: string, data: Record<string, unknown> = {}): void {
    rejectKeys(data, [...ENTRY_KEYS, ...REFUSAL_KEYS], 'refusal data');
    this.prepared(); // fail here, not later inside a flush timer, when used before start()
    this.refusals.add(topic, reason, data);
  }

  head(): AuditHead {
    const previous = this.prepared().last.get();
    return { seq: previous?.seq ?? 0, head: previous?.hash ?? GENESIS_HASH };
  }

  /** The current tree size (= entries) and its root hash. */
  treeHead(): { size: number; rootHash: Uint8Array } {
    this.prepared();
    const size = this.tree.size;
    return { size, rootHash: rootHash(this.tree, size) };
  }

  /** The device-signed C2SP checkpoint of the log as it is now. */
  checkpoint(): string {
    return this.checkpointOf(this.treeHead().size);
  }

  private checkpointOf(size: number): string {
    const root = rootHash(this.tree, size);
    const publicKey = parseB64url(this.deps.signer.publicKey);
    if (publicKey?.length !== 32) throw new Error('the device public key is not 32 bytes of base64url');
    return signCheckpoint(size, root, publicKey, (m) => parseB64url(this.deps.signer.sign(Buffer.from(m)))!);
  }

  /** The transparency report (report.ts) of the whole log, or of the entries at or after `since`. */
  report(since?: string): TransparencyReport {
    const { size, rootHash: root } = this.treeHead();
    const entries = this.deps.db.prepare('SELECT entry FROM audit_log WHERE seq <= ? ORDER BY seq').pluck().iterate(size) as IterableIterator<string>;
    return buildReport(entries, { size, rootHash: hex(root) }, since);
  }

  /** Proof that leaf `index` is in the tree of `size` entries. */
  inclusionProof(index: number, size: number): Uint8Array[] {
    this.prepared();
    return inclusionProof(this.tree, index, size);
  }

  /** Proof that the tree of `oldSize` entries is a prefix of the tree of `newSize` entries. */
  consistencyProof(oldSize: number, newSize: number): Uint8Array[] {
    this.prepared();
    return consistencyProof(this.tree, oldSize, newSize);
  }

  /**
   * What an evidence bundle carries about a request (docs/protocol.md "Evidence bundle"): a signed
   * checkpoint and, under it, the inclusion proofs of the request's entry and of the owner's
   * approval. Undefined when the log holds no approval for it.
   */
  evidence(requestId: string): LogEvidence | undefined {
    this.prepared();
    return this.deps.db.transaction(() => evidenceProofs(this.deps.db, this.tree, requestId, (size) => this.checkpointOf(size))).deferred();
  }

  /** The stored text of entry `seq` (leaf index seq − 1), or undefined. */
  entry(seq: number): string | undefined {
    return this.prepared().entry.get(seq)?.entry;
  }

  /** Called after every committed append (callers debounce republishing); returns an unsubscribe. */
  onAppend(listener: (head: AuditHead, entry: AuditEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private writeRefusal(row: RefusalRow): void {
    const folded = row.count > 1 ? { reasons: row.reasons, senders: row.senders } : {};
    this.append('refusal', { topic: row.topic, reason: row.reason, count: row.count, ...folded, ...row.data });
  }

  /** Adds the leaves of entries the tree does not hold yet: a v1 log's entries at the first start. */
  private fillTree(): void {
    const { db, log } = this.deps;
    // In batches: SQLite cannot write on a connection while it iterates a query.
    const batch = db.prepare('SELECT entry FROM audit_log ORDER BY seq LIMIT 1000 OFFSET ?').pluck();
    let added = 0;
    for (;;) {
      const n = db
        .transaction(() => {
          const entries = batch.all(this.tree.size) as string[];
          for (const entry of entries) this.tree.append(this.tree.size, leafHash(Buffer.from(entry, 'utf8')));
          return entries.length;
        })
        .immediate();
      added += n;
      if (n < 1000) break;
    }
    if (added) log.info('audit entries added to the Merkle tree', { added, size: this.tree.size });
  }

  private prepared(): Statements {
    if (!this.statements) throw new Error('AuditLog used before start()');
    return this.statements;
  }
}

function rejectKeys(data: Record<string, unknown>, keys: string[], what: string): void {
  const clash = keys.filter((k) => Object.hasOwn(data, k));
  if (clash.length) throw new TypeError(`${what} must not carry ${clash.join(', ')}: those fields are the log's own`);
}
