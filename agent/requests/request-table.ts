/** The requests and their state, in SQLite, so a restart rebuilds every timer and resumes every upload. */
import type { Statement } from 'better-sqlite3';
import { migrate, type Db } from '../store/database.js';
import type { DecisionClip } from '../envelope/index.js';
import type { Request } from './request-schema.js';

export type RequestState =
  | 'no-footage'
  | 'pending'
  | 'approved'
  | 'uploading'
  | 'uploaded'
  | 'failed'
  | 'denied'
  | 'expired'
  | 'cancelled';

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['rejected', 'no-footage', 'uploaded', 'failed', 'denied', 'expired', 'cancelled']);

/** Who signed a request and who vouches for the key, as the owner's notice shows it. */
export interface RequestTrust {
  keyId: string;
  fingerprint: string;
  vouchedBy?: { by: 'pinned'; label: string } | { by: 'directory'; directory: string; label: string };
  trusted: boolean;
  /** Index in the request board's log when the request came with the board's proof. */
  boardIndex?: number;
}

export interface RequestRow {
  id: string;
  requesterName: string;
  requesterKeyId: string;
  trust: RequestTrust;
  topic: 'direct' | 'area';
  receivedAt: number;
  request: Request;
  state: RequestState;
  detail: string;
  urlSha256: string;
  expiresAt: number;
  uploadExpiresAt: number;
  /** The clips matched when the request arrived, with the hashes the owner's approval must name. */
  clips: DecisionClip[];
  /** The owner's signed decision as published on `topic` (protocol.md "Envelope"): `payload` is its body. */
  approval: { keyId: string; topic: string; payload: string; sig: string } | null;
  approvedClipIds: string[];
  attempts: number;
  nextAttemptAt: number | null;
  updatedAt: number;
  terminalAt: number | null;
}

const MIGRATIONS = [
  `CREATE TABLE requests (
     id TEXT PRIMARY KEY,
     requester_name TEXT NOT NULL,
     topic TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     body TEXT NOT NULL,
     state TEXT NOT NULL,
     detail TEXT NOT NULL DEFAULT '',
     url_sha256 TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     upload_expires_at INTEGER NOT NULL,
     clips TEXT NOT NULL,
     approval TEXT,
     approved_clips TEXT NOT NULL DEFAULT '[]',
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER,
     updated_at INTEGER NOT NULL,
     terminal_at INTEGER,
     status_cleared INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID`,
  `CREATE INDEX requests_by_state ON requests (state)`,
  // Protocol v2: the signing key, not a self-declared name, carries the limits; trust is shown in the notice.
  `ALTER TABLE requests ADD COLUMN requester_key_id TEXT NOT NULL DEFAULT ''`,
  `ALTER TABLE requests ADD COLUMN trust TEXT NOT NULL DEFAULT '{}'`,
];

interface Raw {
  id: string;
  requester_name: string;
  requester_key_id: string;
  trust: string;
  topic: string;
  received_at: number;
  body: string;
  state: string;
  detail: string;
  url_sha256: string;
  expires_at: number;
  upload_expires_at: number;
  clips: string;
  approval: string | null;
  approved_clips: string;
  attempts: number;
  next_attempt_at: number | null;
  updated_at: number;
  terminal_at: number | null;
}

function fromRaw(r: Raw): RequestRow {
  return {
    id: r.id,
    requesterName: r.requester_name,
    requesterKeyId: r.requester_key_id,
    trust: JSON.parse(r.trust) as RequestTrust,
    topic: r.topic === 'area' ? 'area' : 'direct',
    receivedAt: r.received_at,
    request: JSON.parse(r.body) as Request,
    state: r.state as RequestState,
    detail: r.detail,
    urlSha256: r.url_sha256,
    expiresAt: r.expires_at,
    uploadExpiresAt: r.upload_expires_at,
    clips: JSON.parse(r.clips) as DecisionClip[],
    approval: r.approval ? (JSON.parse(r.approval) as RequestRow['approval']) : null,
    approvedClipIds: JSON.parse(r.approved_clips) as string[],
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    updatedAt: r.updated_at,
    terminalAt: r.terminal_at,
  };
}

export class RequestTable {
  private s!: Record<
    'insert' | 'get' | 'setState' | 'approve' | 'schedule' | 'unschedule' | 'pendingFor' | 'pendingUnknown' | 'pendingTotal' | 'inState' | 'list',
    Statement
  >;

  constructor(private readonly db: Db) {}

  /** Separate from start() so read-only CLI commands can use the queries too. */
  migrate(): void {
    migrate(this.db, 'requests', MIGRATIONS);
  }

  start(): void {
    this.migrate();
    this.prepare();
  }

  prepare(): void {
    const db = this.db;
    this.s = {
      insert: db.prepare(
        `INSERT INTO requests (id, requester_name, requester_key_id, trust, topic, received_at, body, state, detail, url_sha256,
           expires_at, upload_expires_at, clips, updated_at, terminal_at)
         VALUES (@id, @requesterName, @requesterKeyId, @trustJson, @topic, @receivedAt, @body, @state, @detail, @urlSha256,
           @expiresAt, @uploadExpiresAt, @clips, @receivedAt, @terminalAt)`,
      ),
      get: db.prepare('SELECT * FROM requests WHERE id = ?'),
      setState: db.prepare(
        `UPDATE requests SET state = @state, detail = @detail, updated_at = @now,
           terminal_at = CASE WHEN @terminal THEN @now ELSE terminal_at END WHERE id = @id`,
      ),
      approve: db.prepare(
        `UPDATE requests SET state = 'approved', detail = @detail, approval = @approval, approved_clips = @clips,
           next_attempt_at = @now, updated_at = @now WHERE id = @id AND state = 'pending'`,
      ),
      schedule: db.prepare('UPDATE requests SET attempts = @attempts, next_attempt_at = @next, updated_at = @now WHERE id = @id'),
      unschedule: db.prepare('UPDATE requests SET next_attempt_at = NULL, updated_at = @now WHERE id = @id'),
      pendingFor: db.prepare("SELECT count(*) AS n FROM requests WHERE state = 'pending' AND requester_key_id = ?"),
      pendingUnknown: db.prepare(
        "SELECT count(*) AS n FROM requests WHERE state = 'pending' AND json_extract(trust, '$.trusted') IS NOT 1",
      ),
      pendingTotal: db.prepare("SELECT count(*) AS n FROM requests WHERE state = 'pending'"),
      inState: db.prepare('SELECT * FROM requests WHERE state = ? ORDER BY received_at'),
      list: db.prepare('SELECT * FROM requests ORDER BY received_at DESC LIMIT ?'),
    };
  }

  insert(
    row: Pick<
      RequestRow,
      'id' | 'requesterName' | 'requesterKeyId' | 'trust' | 'topic' | 'receivedAt' | 'request' | 'state' | 'detail' | 'urlSha256' | 'expiresAt' | 'uploadExpiresAt' | 'clips'
    > & { terminal: boolean },
  ): void {
    const { trust, ...rest } = row;
    this.s.insert.run({
      ...rest,
      trustJson: JSON.stringify(trust),
      body: JSON.stringify(row.request),
      clips: JSON.stringify(row.clips),
      terminalAt: row.terminal ? row.receivedAt : null,
    });
  }

  get(id: string): RequestRow | undefined {
    const raw = this.s.get.get(id) as Raw | undefined;
    return raw ? fromRaw(raw) : undefined;
  }

  setState(id: string, state: RequestState, detail: string, now: number): void {
    this.s.setState.run({ id, state, detail, now, terminal: TERMINAL_STATES.has(state) ? 1 : 0 });
  }

  /** Records the owner's approval; false if the request was no longer pending. */
  approve(id: string, approval: RequestRow['approval'], clipIds: string[], now: number): boolean {
    const info = this.s.approve.run({ id, approval: JSON.stringify(approval), clips: JSON.stringify(clipIds), now, detail: 'approved by the owner' });
    return info.changes === 1;
  }

  schedule(id: string, attempts: number, next: number | null, now: number): void {
    this.s.schedule.run({ id, attempts, next, now });
  }

  unschedule(id: string, now: number): void {
    this.s.unschedule.run({ id, now });
  }

  pendingFor(requesterKeyId: string): number {
    return (this.s.pendingFor.get(requesterKeyId) as { n: number }).n;
  }

  /** Pending requests from keys that neither the owner pinned nor a trusted directory vouched for. */
  pendingUnknown(): number {
    return (this.s.pendingUnknown.get() as { n: number }).n;
  }

  pendingTotal(): number {
    return (this.s.pendingTotal.get() as { n: number }).n;
  }

  inState(state: RequestState): RequestRow[] {
    return (this.s.inState.all(state) as Raw[]).map(fromRaw);
  }

  list(limit: number): RequestRow[] {
    return (this.s.list.all(limit) as Raw[]).map(fromRaw);
  }
}
