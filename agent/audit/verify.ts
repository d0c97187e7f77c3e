/** Offline checks for the CLI (`doorbell audit verify | export`) and anyone holding a copy of the log. */
import { iso } from '../clock.js';
import type { Db } from '../store/database.js';
import { consistencyProof, leafHash, MemoryTree, rootHash, verifyConsistency } from '../tlog/index.js';
import { chainHash, GENESIS_HASH } from './chain.js';
import { openCheckpoint } from './checkpoints.js';

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

export type ExtensionVerdict =
  | { ok: true; oldSize: number; size: number; proofHashes: number }
  | { ok: false; reason: string };

/**
 * Whether the log in `db` is a consistent extension of a checkpoint the device signed earlier: the
 * tree is rebuilt from the stored entries (not from the stored tree, which a tamperer may rebuild
 * too), and the checkpoint's root must be the root of its first `size` entries, checked with an
 * RFC 6962 consistency proof from that tree to the current one. Any deletion, rollback to an older
 * copy, rewritten entry or fork changes that root.
 */
export function verifyExtension(db: Db, note: string, devicePublicKey: Uint8Array): ExtensionVerdict {
  let checkpoint;
  try {
    checkpoint = openCheckpoint(note, devicePublicKey);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const tree = treeOfEntries(db);
  if (tree.size < checkpoint.size) {
    return {
      ok: false,
      reason: `the log holds ${tree.size} entries, but the checkpoint shows it held ${checkpoint.size}: entries were deleted or an older copy of the database was restored`,
    };
  }
  const proof = consistencyProof(tree, checkpoint.size, tree.size);
  if (!verifyConsistency(checkpoint.size, tree.size, checkpoint.rootHash, rootHash(tree), proof)) {
    return {
      ok: false,
      reason: `the first ${checkpoint.size} entries are not the ones the checkpoint signed: an entry was rewritten or deleted, or this is a different (forked) history`,
    };
  }
  return { ok: true, oldSize: checkpoint.size, size: tree.size, proofHashes: proof.length };
}

/** The Merkle tree of the stored entries, in seq order, rebuilt from their text. */
export function treeOfEntries(db: Db): MemoryTree {
  const tree = new MemoryTree();
  for (const row of rows(db)) tree.append(leafHash(Buffer.from(row.entry, 'utf8')));
  return tree;
}
