/**
 * Issue 12: an independent verifier written from docs/protocol.md alone (plain node:crypto, no import
 * from agent/: test/fixtures/audit/independent-verifier.mjs) checks a checkpoint, an inclusion proof
 * and a consistency proof the agent produced, in their wire forms (the evidence bundle's entry proof,
 * the answer to an owner's audit-ask), and refuses altered ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { answerConsistencyAsk, AuditLog, auditVerifierKey } from '../../agent/audit/index.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey, parseB64url } from '../../agent/owner/index.js';
import { openDatabase } from '../../agent/store/database.js';
// @ts-expect-error plain JavaScript fixture without type declarations, on purpose
import * as independent from '../fixtures/audit/independent-verifier.mjs';

interface Independent {
  parseVerifierKey(vkey: string): { name: string; publicKey: Buffer };
  openCheckpoint(note: string, vkey: string): { origin: string; size: number; rootHash: Buffer };
  verifyInclusion(entry: string, index: number, size: number, proof: string[], root: Buffer): boolean;
  verifyConsistency(first: number, second: number, firstHash: Buffer, secondHash: Buffer, proof: string[]): boolean;
  originOf(publicKey: Buffer): string;
}
const v = independent as Independent;

const dir = mkdtempSync(join(tmpdir(), 'independent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('checks a checkpoint, an inclusion proof and a consistency proof the agent produced', async () => {
  const key = new DeviceKey({ dir, log: silentLogger });
  await key.start();
  const db = openDatabase(join(dir, 'doorbell.db'));
  const audit = new AuditLog({ db, clock: { now: () => Date.now() }, log: silentLogger, signer: key });
  audit.start();
  try {
    for (let i = 0; i < 13; i++) audit.append('request', { requestId: `r-${i}`, requester: { name: 'Springfield PD', kind: 'police' } });
    const older = audit.checkpoint();
    audit.append('decision', { requestId: 'r-4', decision: 'approve', keyId: '0123456789abcdef', clips: [], payloadSha256: '00'.repeat(32) });
    for (let i = 13; i < 20; i++) audit.append('request', { requestId: `r-${i}` });
    const newer = audit.checkpoint();

    const vkey = auditVerifierKey(parseB64url(key.publicKey)!);
    const a = v.openCheckpoint(older, vkey);
    const b = v.openCheckpoint(newer, vkey);
    expect(a.origin).toBe(v.originOf(parseB64url(key.publicKey)!));
    expect([a.size, b.size]).toEqual([13, 21]);

    // The evidence bundle's log/request.json and log/approval.json, exactly as the agent writes them.
    const evidence = JSON.parse(JSON.stringify(audit.evidence('r-4')!)) as {
      checkpoint: string;
      request: { index: number; entry: string; proof: string[] };
      approval: { index: number; entry: string; proof: string[] };
    };
    expect(evidence.checkpoint).toBe(newer);
    for (const p of [evidence.request, evidence.approval]) expect(v.verifyInclusion(p.entry, p.index, b.size, p.proof, b.rootHash)).toBe(true);
    expect(() => v.verifyInclusion(evidence.approval.entry.replace('approve', 'deny'), evidence.approval.index, b.size, evidence.approval.proof, b.rootHash)).toThrow();
    expect(() => v.verifyInclusion(evidence.request.entry, evidence.request.index, b.size, evidence.request.proof, a.rootHash)).toThrow();

    // The answer to an owner's audit-ask, as JSON on the wire.
    const answer = JSON.parse(JSON.stringify(answerConsistencyAsk(audit, { oldSize: 13, newSize: 21 }))) as { proof: string[] };
    expect(v.verifyConsistency(13, 21, a.rootHash, b.rootHash, answer.proof)).toBe(true);
    const flipped = Buffer.from(a.rootHash);
    flipped[0]! ^= 1;
    expect(() => v.verifyConsistency(13, 21, flipped, b.rootHash, answer.proof)).toThrow();

    // A checkpoint altered after signing, or checked with another key, is refused.
    expect(() => v.openCheckpoint(newer.replace('\n21\n', '\n22\n'), vkey)).toThrow(/bad signature/);
    const other = new DeviceKey({ dir: join(dir, 'other'), log: silentLogger });
    await other.start();
    expect(() => v.openCheckpoint(newer, auditVerifierKey(parseB64url(other.publicKey)!))).toThrow();
  } finally {
    audit.stop();
    db.close();
  }
});

