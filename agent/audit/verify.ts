/** Offline checks for the CLI (`doorbell audit verify | export`) and anyone holding a copy of the log. */
import { iso } from '../clock.js';
import { parseB64url, verifyEd25519 } from '../owner/index.js';
import type { Db } from '../store/database.js';
import { chainHash, GENESIS_HASH, headMessage } from './chain.js';

export type ChainVerdict = { ok: true; seq: number; head: string } | { ok: false; firstBadSeq: number; reason: string };

interface Row {
  seq: number;
  at: number;
  entry: string;
  hash: string;
}

function rows(db: Db): IterableIterator<Row> {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
  if (!table) throw new Error('this database has no audit log: the agent has never started with it');
  return db.prepare('SELECT seq, at, entry, hash FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>;
}

/**
 * Recomputes the whole chain, streaming rows. Reports the first seq that is missing, out of place,
 * or whose entry or stored hash does not match. A log rewritten from some entry to the end with
 * fresh hashes verifies here; comparing with a published signed head is what exposes that.
 */
export function verifyAuditChain(db: Db): ChainVerdict {
  let previous = GENESIS_HASH;
  let expected = 1;
  for (const row of rows(db)) {
    const bad = (reason: string): ChainVerdict => ({ ok: false, firstBadSeq: expected, reason });
    if (row.seq !== expected) {
      return bad(row.seq > expected ? `entries ${expected} to ${row.seq - 1} are missing` : `unexpected seq ${row.seq}`);
    }
    if (chainHash(previous, row.entry) !== row.hash) return bad('the entry or its hash was altered');
    let entry: { seq?: unknown; at?: unknown };
    try {
      entry = JSON.parse(row.entry) as { seq?: unknown; at?: unknown };
    } catch {
      // Unreachable for entries this agent wrote; a hand-made one is reported as bad, not thrown.
      return bad('the entry is not JSON');
    }
    if (entry.seq !== row.seq) return bad(`the entry says seq ${String(entry.seq)}`);
    if (entry.at !== iso(row.at)) return bad('the at column does not match the entry');
    previous = row.hash;
    expected++;
  }
  return { ok: true, seq: expected - 1, head: previous };
}

/**
 * Writes one JSON Lines record per entry, newline included: `{"seq","entry":<entry>,"hash"}`.
 * Entries were written by JSON.stringify, so JSON.stringify(record.entry) gives back the exact
 * hashed text. Returns how many were written.
 */
export function exportAudit(db: Db, write: (line: string) => void): number {
  let count = 0;
  for (const row of rows(db)) {
    let entry: unknown;
    try {
      entry = JSON.parse(row.entry);
    } catch {
      throw new Error(`audit entry ${row.seq} is not JSON; run "doorbell audit verify"`);
    }
    write(JSON.stringify({ seq: row.seq, entry, hash: row.hash }) + '\n');
    count++;
  }
  return count;
}

/**
 * Checks a `P/D/transparency` head's signature, with `publicKey` (base64url) when the verifier
 * knows the device's key, else with the key the head names (which proves only self-consistency).
 */
export function verifySignedHead(head: unknown, publicKey?: string): boolean {
  if (typeof head !== 'object' || head === null) return false;
  const h = head as Record<string, unknown>;
  if (h.v !== 1 || !Number.isSafeInteger(h.seq) || (h.seq as number) < 0) return false;
  if (typeof h.head !== 'string' || !/^[0-9a-f]{64}$/.test(h.head)) return false;
  const key = parseB64url(publicKey ?? h.publicKey);
  const sig = parseB64url(h.sig);
  return !!key && !!sig && verifyEd25519(key, headMessage(h.seq as number, h.head), sig);
}
