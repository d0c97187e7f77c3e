/**
 * What must hold after every crash, read from the agent's files while it is down (so nothing moves
 * under the check): store invariants, the audit chain, no finalised clip lost, no clip a request
 * holds gone, nothing approved that the owner did not approve, no byte sent without approval.
 */
import { join } from 'node:path';
import { verifyAuditChain } from '../../agent/audit/index.js';
import { openDatabase } from '../../agent/store/database.js';
import { checkStoreInvariants } from '../../agent/store/index.js';
import type { Delivery } from './slow-receiver.js';

/** What the harness did and saw, to judge the agent's files against. */
export interface Ledger {
  /** Requests the owner signed an approval for. */
  approved: Set<string>;
  /** Requests the owner signed a denial for. */
  denied: Set<string>;
  /** Clips the agent said were ready (log line or database), minus those found legitimately evicted. */
  seenReady: Set<string>;
  evicted: number;
}

export function newLedger(): Ledger {
  return { approved: new Set(), denied: new Set(), seenReady: new Set(), evicted: 0 };
}

export interface StoreSnapshot {
  readyClips: number;
  requests: Record<string, number>;
  auditEntries: number;
  /** Requests in each state, by id. */
  states: Map<string, string>;
}

interface RequestRow {
  id: string;
  state: string;
  clips: string;
  approved_clips: string;
}

const ACTIVE = new Set(['pending', 'approved', 'uploading']);
const APPROVED = new Set(['approved', 'uploading', 'uploaded']);

export function checkAgentFiles(storageDir: string, ledger: Ledger, deliveries: readonly Delivery[]): { violations: string[]; snapshot: StoreSnapshot } {
  const violations: string[] = [];
  const db = openDatabase(join(storageDir, 'doorbell.db'), { readonly: true });
  try {
    for (const p of checkStoreInvariants(db, storageDir)) violations.push(`store invariant: ${p}`);
    const audit = verifyAuditChain(db);
    if (!audit.ok) violations.push(`audit chain broken at entry ${audit.firstBadSeq}: ${audit.reason}`);

    const ready = new Set((db.prepare("SELECT id FROM clips WHERE state = 'ready'").all() as { id: string }[]).map((r) => r.id));
    const requests = db.prepare('SELECT id, state, clips, approved_clips FROM requests').all() as RequestRow[];
    const states = new Map(requests.map((r) => [r.id, r.state]));
    const everHeld = new Set<string>();
    for (const r of requests) {
      const matched = (JSON.parse(r.clips) as { id: string }[]).map((c) => c.id);
      matched.forEach((id) => everHeld.add(id));
      if (!ACTIVE.has(r.state)) continue;
      const needed = r.state === 'pending' ? matched : (JSON.parse(r.approved_clips) as string[]);
      for (const id of needed) if (!ready.has(id)) violations.push(`clip ${id} held by request ${r.id} (${r.state}) is gone`);
    }

    // A finalised clip may only be gone by eviction, which takes the oldest clips that are not held
    // first: so no clip that was never held may still be there while a newer one is gone.
    const neverHeldReady = [...ready].filter((id) => !everHeld.has(id)).sort();
    for (const id of [...ledger.seenReady]) {
      if (ready.has(id)) continue;
      if (neverHeldReady.length && neverHeldReady[0]! < id) {
        violations.push(`clip ${id} was ready and is gone, while the older, never held clip ${neverHeldReady[0]} is still there: lost, not evicted`);
      } else ledger.evicted++;
      ledger.seenReady.delete(id);
    }
    for (const id of ready) ledger.seenReady.add(id);

    for (const r of requests) {
      if (APPROVED.has(r.state) && !ledger.approved.has(r.id)) violations.push(`request ${r.id} is ${r.state} but the owner never approved it`);
      if (r.state === 'denied' && !ledger.denied.has(r.id)) violations.push(`request ${r.id} is denied but the owner never denied it`);
      if (r.state === 'failed' && ledger.approved.has(r.id)) violations.push(`approved request ${r.id} failed: its upload is lost`);
    }
    for (const d of deliveries) {
      const id = /^\/put\/([^/?]+)$/.exec(d.path)?.[1];
      if (d.method !== 'PUT' || !id) {
        violations.push(`receiver got ${d.method} ${d.path}: not an upload of an approved request`);
        continue;
      }
      if (!ledger.approved.has(id)) violations.push(`receiver got ${d.bytes} bytes for request ${id}, which the owner never approved`);
      const state = states.get(id);
      if (state && !APPROVED.has(state)) violations.push(`receiver got bytes for request ${id}, which the agent has as ${state}`);
      if (d.complete && !d.verification?.ok) violations.push(`bundle for ${id} does not verify: ${d.verification?.problems.join('; ')}`);
      if (d.complete && d.manifestRequestId !== undefined && d.manifestRequestId !== id) {
        violations.push(`bundle sent to the URL of ${id} is for request ${d.manifestRequestId}`);
      }
    }
    const byState: Record<string, number> = {};
    for (const r of requests) byState[r.state] = (byState[r.state] ?? 0) + 1;
    return { violations, snapshot: { readyClips: ready.size, requests: byState, auditEntries: audit.ok ? audit.seq : -1, states } };
  } finally {
    db.close();
  }
}

/** Request states only: safe to read while the agent runs (a WAL reader never blocks it). */
export function readRequestStates(storageDir: string): Map<string, string> {
  const db = openDatabase(join(storageDir, 'doorbell.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT id, state FROM requests').all() as { id: string; state: string }[];
    return new Map(rows.map((r) => [r.id, r.state]));
  } finally {
    db.close();
  }
}
