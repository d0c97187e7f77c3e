/** What a test agent recorded about requests, read from its database file like an investigator would. */
import { isIPv6 } from 'node:net';
import type { Config } from '../../agent/config.js';
import { databasePath } from '../../agent/main.js';
import { holderFor, type LookupFn } from '../../agent/requests/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { until, type AuditEntry, type TestAgent } from './agent.js';

/** An agent in this process, or one in a child process known by its configuration. */
type HasConfig = { config: Config };

function readDb<T>(t: HasConfig, read: (db: Db) => T): T {
  const db = openDatabase(databasePath(t.config), { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The seq of the newest audit entry: refusals after it belong to what the test does next. */
export function lastSeq(t: TestAgent): number {
  return t.audit().at(-1)?.seq ?? 0;
}

/** Refusals per reason after `sinceSeq`, with summarised bursts unfolded through their counts. */
export function refusalTally(t: TestAgent, sinceSeq: number): Record<string, number> {
  const tally: Record<string, number> = {};
  for (const e of t.audit()) {
    if (e.seq <= sinceSeq || e.type !== 'refusal') continue;
    const reasons = (e.reasons as Record<string, number> | undefined) ?? { [String(e.reason)]: Number(e.count) };
    for (const [reason, n] of Object.entries(reasons)) tally[reason] = (tally[reason] ?? 0) + n;
  }
  return tally;
}

/** Waits until the audit log counts `total` refusals after `sinceSeq` (bursts are written within a second). */
export async function refusalsAfter(t: TestAgent, sinceSeq: number, total: number, timeoutMs = 15_000): Promise<Record<string, number>> {
  let tally: Record<string, number> = {};
  const sum = (): number => Object.values(tally).reduce((a, b) => a + b, 0);
  await until(() => {
    tally = refusalTally(t, sinceSeq);
    return sum() >= total;
  }, timeoutMs, `${total} audited refusal(s)`);
  return tally;
}

/** Every audit entry, for an agent that may run in another process. */
export function auditOf(t: HasConfig): AuditEntry[] {
  return readDb(t, (db) => (db.prepare('SELECT entry FROM audit_log ORDER BY seq').all() as { entry: string }[]).map((r) => JSON.parse(r.entry) as AuditEntry));
}

/** The state of a request in the agent's table, or undefined when it was never accepted. */
export function requestState(t: HasConfig, id: string): string | undefined {
  return readDb(t, (db) => (db.prepare('SELECT state FROM requests WHERE id = ?').get(id) as { state: string } | undefined)?.state);
}

/** Clip ids a request holds in the store's clip_holds table. */
export function holdsOf(t: HasConfig, requestId: string): string[] {
  return readDb(t, (db) =>
    (db.prepare('SELECT clip_id FROM clip_holds WHERE holder = ? ORDER BY clip_id').all(holderFor(requestId)) as { clip_id: string }[]).map(
      (r) => r.clip_id,
    ),
  );
}

/** Ids of the clips the store holds ready (not evicted). */
export function storedClipIds(t: HasConfig): string[] {
  return readDb(t, (db) => (db.prepare("SELECT id FROM clips WHERE state = 'ready'").all() as { id: string }[]).map((r) => r.id));
}

/** A resolver answering from a table (which a test may change), like DNS for made-up host names. */
export function tableLookup(table: Record<string, string[]>): LookupFn {
  return (host) => {
    const addresses = table[host];
    if (!addresses) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(addresses.map((address) => ({ address, family: isIPv6(address) ? 6 : 4 })));
  };
}

export const settle = (ms = 300): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Like `t.ring()`, but presses again when a press made no trigger within 5 s: the button debounces
 * in event-loop time, so a press overlapping a stall of 200 ms or more (a slow fsync on a loaded
 * machine) is taken for contact bounce and lost. These tests are about requests, not the button.
 */
export async function ringUntilTriggered(t: TestAgent): Promise<ClipRecord> {
  for (let press = 1; press <= 3; press++) {
    let listener!: (e: { clipId: string }) => void;
    const triggered = new Promise<string>((resolve) => (listener = ({ clipId }) => resolve(clipId)));
    t.agent.once('trigger', listener);
    await t.control('sim', { what: 'ring' });
    const clipId = await Promise.race([triggered, settle(5000).then(() => undefined)]);
    if (clipId === undefined) {
      t.agent.off('trigger', listener);
      continue;
    }
    await until(() => t.clips.some((c) => c.id === clipId), 30_000, `clip ${clipId}`);
    return t.clips.find((c) => c.id === clipId)!;
  }
  throw new Error('three simulated presses made no trigger');
}
