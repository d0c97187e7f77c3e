/**
 * What an evidence bundle carries about a request (docs/protocol.md "Evidence bundle"): a signed
 * checkpoint and, under it, the inclusion proofs of the request's entry and of the owner's approval.
 */
import type { Db } from '../store/database.js';
import { base64Encode, inclusionProof, type LeafSource } from '../tlog/index.js';

/** An entry of the log with its inclusion proof (standard base64 hashes) under a checkpoint. */
export interface EntryProof {
  v: 1;
  index: number;
  entry: string;
  proof: string[];
}

export interface LogEvidence {
  checkpoint: string;
  request: EntryProof;
  approval: EntryProof;
}

/**
 * The latest approval of `requestId` and its request entry, proven under a checkpoint of the whole
 * tree; undefined when the log holds no approval for it. Entry `seq` is leaf `seq - 1`.
 */
export function evidenceProofs(db: Db, tree: LeafSource, requestId: string, checkpointFor: (size: number) => string): LogEvidence | undefined {
  const find = (type: string, extra: string) =>
    db
      .prepare(
        `SELECT seq, entry FROM audit_log WHERE json_extract(entry, '$.type') = ? AND json_extract(entry, '$.requestId') = ? ${extra}
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(type, requestId) as { seq: number; entry: string } | undefined;
  const approval = find('decision', "AND json_extract(entry, '$.decision') = 'approve'");
  const request = find('request', '');
  if (!approval || !request) return undefined;
  const size = tree.size;
  const proof = (row: { seq: number; entry: string }): EntryProof => ({
    v: 1,
    index: row.seq - 1,
    entry: row.entry,
    proof: inclusionProof(tree, row.seq - 1, size).map(base64Encode),
  });
  return { checkpoint: checkpointFor(size), request: proof(request), approval: proof(approval) };
}
