/**
 * The append-only, hash-chained audit log (PROTOCOL.md "Audit log and transparency"). Each append
 * reads the head inside an IMMEDIATE transaction, so a CLI command appending from another process
 * while the agent runs still extends the same chain.
 */
import { iso, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { migrate, type Db } from '../store/database.js';
import { chainHash, GENESIS_HASH, headMessage } from './chain.js';
import { RefusalBursts, type RefusalRow } from './refusal-bursts.js';

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
];

const ENTRY_KEYS = ['seq', 'at', 'type'];
const REFUSAL_KEYS = ['topic', 'reason', 'count', 'reasons'];

export interface AuditSigner {
  /** Base64url Ed25519 signature. */
  sign(message: Buffer): string;
  /** Base64url of the raw public key. */
  publicKey: string;
}

export interface AuditHead {
  seq: number;
  head: string;
}

/** Published retained on `P/D/transparency`. */
export interface SignedHead {
  v: 1;
  seq: number;
  head: string;
  at: string;
  publicKey: string;
  sig: string;
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
  };
}
type Statements = ReturnType<typeof prepareStatements>;

export class AuditLog {
  private statements: Statements | undefined;
  private readonly listeners = new Set<(head: AuditHead) => void>();
  private readonly refusals: RefusalBursts;

  constructor(private readonly deps: AuditLogDeps) {
    this.refusals = new RefusalBursts({ clock: deps.clock, log: deps.log, write: (row) => this.writeRefusal(row) });
  }

  start(): void {
    migrate(this.deps.db, 'audit', MIGRATIONS);
    this.statements = prepareStatements(this.deps.db);
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
        const entry = JSON.stringify({ seq, at: iso(at), type, ...data });
        const hash = chainHash(previous?.hash ?? GENESIS_HASH, entry);
        insert.run(seq, at, entry, hash);
        return { seq, hash };
      })
      .immediate();
    for (const listener of this.listeners) {
      try {
        listener({ seq: written.seq, head: written.hash });
      } catch (err) {
        this.deps.log.error('audit append listener failed', { err });
      }
    }
    return written;
  }

  /**
   * Records a refused inbound message. Bursts are summarised: at most one entry per topic per second,
   * its `count` (and, above one, `reasons`) covering every refusal folded into it.
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

  signedHead(): SignedHead {
    const { seq, head } = this.head();
    const { signer, clock } = this.deps;
    return { v: 1, seq, head, at: iso(clock.now()), publicKey: signer.publicKey, sig: signer.sign(headMessage(seq, head)) };
  }

  /** Called after every committed append (callers debounce republishing); returns an unsubscribe. */
  onAppend(listener: (head: AuditHead) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private writeRefusal(row: RefusalRow): void {
    const reasons = row.count > 1 ? { reasons: row.reasons } : {};
    this.append('refusal', { topic: row.topic, reason: row.reason, count: row.count, ...reasons, ...row.data });
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
