/**
 * The device's copy of a request board's log (docs/protocol.md "Request board", "Devices that
 * require public requests"). The device fetches the board's newest checkpoint and the leaf hashes
 * appended since, on its own timer and never because a request arrived, so the board learns only
 * that some client follows its log. A checkpoint whose root does not match the copy is refused and
 * audited; the copy then stays as it was, so a board cannot rewrite what the device has seen.
 */
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { migrate } from '../store/database.js';
import {
  base64Decode,
  equalBytes,
  leafHash,
  openNote,
  parseCheckpoint,
  rootHash,
  SqliteTree,
  sqliteTreeSchema,
  verifyInclusion,
  type NoteVerifierKey,
} from '../tlog/index.js';
import type { BoardProof } from './request-message.js';

const MIGRATIONS = [sqliteTreeSchema('board_tree'), 'CREATE TABLE board_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL)'];
const LEAVES_PER_FETCH = 1000;

export type ProofVerdict = { ok: true } | { ok: false; reason: string; detail: string } | { ok: 'wait' };

export interface BoardMirrorDeps {
  db: Db;
  key: NoteVerifierKey;
  /** The board's base URL, e.g. https://board.example. */
  url: string;
  pollMs: number;
  audit: AuditLog;
  log: Logger;
  fetch?: typeof fetch;
}

export class BoardMirror {
  private readonly tree: SqliteTree;
  private timer: NodeJS.Timeout | null = null;
  private readonly synced = new Set<() => void>();
  private stopped = false;

  constructor(private readonly deps: BoardMirrorDeps) {
    this.tree = new SqliteTree(deps.db, 'board_tree');
  }

  start(): void {
    migrate(this.deps.db, 'board-mirror', MIGRATIONS);
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Called after every successful sync: requests waiting for a newer checkpoint are checked again. */
  onSynced(listener: () => void): void {
    this.synced.add(listener);
  }

  get size(): number {
    return this.tree.size;
  }

  /** Checks a relayed request's proof; `wait` when its checkpoint is newer than the copy. */
  verify(proof: BoardProof, entry: Uint8Array): ProofVerdict {
    let size: number;
    let root: Uint8Array;
    try {
      const { body } = openNote(proof.checkpoint, [this.deps.key]);
      const checkpoint = parseCheckpoint(body);
      if (checkpoint.origin !== this.deps.key.name) throw new Error(`origin ${checkpoint.origin} is not ${this.deps.key.name}`);
      size = checkpoint.size;
      root = checkpoint.rootHash;
    } catch (err) {
      return { ok: false, reason: 'bad-checkpoint', detail: (err as Error).message.slice(0, 200) };
    }
    let hashes: Uint8Array[];
    try {
      hashes = proof.inclusion.map((h) => base64Decode(h));
    } catch {
      return { ok: false, reason: 'bad-proof', detail: 'an inclusion hash is not base64' };
    }
    if (proof.index >= size || !verifyInclusion(leafHash(entry), proof.index, size, hashes, root)) {
      return { ok: false, reason: 'bad-proof', detail: `no valid inclusion proof of entry ${proof.index} under the checkpoint of size ${size}` };
    }
    const known = this.tree.size;
    if (size > known) return { ok: 'wait' };
    if (!equalBytes(rootHash(this.tree, size), root)) {
      return { ok: false, reason: 'inconsistent-checkpoint', detail: `the board's checkpoint of size ${size} differs from the log this device copied` };
    }
    return { ok: true };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    // Jitter keeps the timing of fetches unrelated to the timing of requests.
    this.timer = setTimeout(() => void this.sync().finally(() => this.schedule(this.deps.pollMs * (0.5 + Math.random()))), delayMs);
  }

  /** One round: newest checkpoint, then the missing leaf hashes, applied only if they give its root. */
  async sync(): Promise<void> {
    const get = this.deps.fetch ?? fetch;
    try {
      const note = await (await ok(get(new URL('checkpoint', base(this.deps.url))))).text();
      const checkpoint = parseCheckpoint(openNote(note, [this.deps.key]).body);
      const known = this.tree.size;
      if (checkpoint.size < known) {
        this.refuse(`the board's newest checkpoint has ${checkpoint.size} entries, fewer than the ${known} this device copied`);
        return;
      }
      const leaves: Uint8Array[] = [];
      while (known + leaves.length < checkpoint.size) {
        const from = known + leaves.length;
        const url = new URL(`leaves?from=${from}&to=${Math.min(checkpoint.size, from + LEAVES_PER_FETCH)}`, base(this.deps.url));
        const body = (await (await ok(get(url))).json()) as { leaves?: unknown };
        if (!Array.isArray(body.leaves) || body.leaves.length === 0) throw new Error('the board sent no leaves');
        for (const h of body.leaves) leaves.push(base64Decode(String(h)));
      }
      const applied = this.deps.db.transaction(() => {
        leaves.slice(0, checkpoint.size - known).forEach((h, i) => this.tree.append(known + i, h));
        if (!equalBytes(rootHash(this.tree, checkpoint.size), checkpoint.rootHash)) throw new Inconsistent();
        this.deps.db
          .prepare('INSERT INTO board_checkpoint (id, size, note) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET size = excluded.size, note = excluded.note')
          .run(checkpoint.size, note);
        return true;
      });
      try {
        applied();
      } catch (err) {
        if (!(err instanceof Inconsistent)) throw err;
        this.refuse(`the board's checkpoint of size ${checkpoint.size} does not extend the log this device copied`);
        return;
      }
      for (const listener of this.synced) listener();
    } catch (err) {
      this.deps.log.warn('request board not reachable or not valid', { url: this.deps.url, error: (err as Error).message });
    }
  }

  private refuse(detail: string): void {
    this.deps.log.warn('request board checkpoint refused', { detail });
    this.deps.audit.appendRefusal(this.deps.url, 'inconsistent-checkpoint', { detail });
  }
}

class Inconsistent extends Error {}

function base(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

async function ok(response: Promise<Response>): Promise<Response> {
  const r = await response;
  if (!r.ok) throw new Error(`HTTP ${r.status} from ${r.url}`);
  return r;
}
