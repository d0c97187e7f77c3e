/**
 * The transparency report: per month, requests received (by requester kind and by requester), their
 * outcomes, and the clips and bytes shared. Every figure lists the seq of each audit entry it counts,
 * so anyone holding the log can check it; the report names the log size and root hash it covers.
 * Pure (no Node imports): the phone app renders the same structure.
 */

export interface Figure {
  count: number;
  /** seq of each entry counted; a folded refusal summary appears once but may count several. */
  entries: number[];
}

export const OUTCOMES = ['approved', 'denied', 'expired', 'noFootage', 'refusedByPolicy', 'refusedAsInvalid'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface MonthReport {
  /** "YYYY-MM", UTC. */
  month: string;
  received: Figure;
  byKind: Record<string, Figure>;
  byRequester: Record<string, Figure>;
  outcomes: Record<Outcome, Figure>;
  clipsShared: Figure;
  bytesShared: Figure;
}

export interface TransparencyReport {
  v: 1;
  since: string | null;
  /** The log the report was computed from: its size and RFC 6962 root hash (hex). */
  log: { size: number; rootHash: string };
  months: MonthReport[];
}

interface Entry {
  seq: number;
  at: string;
  type: string;
  [key: string]: unknown;
}

function figure(): Figure {
  return { count: 0, entries: [] };
}

function add(f: Figure, seq: number, n = 1): void {
  f.count += n;
  if (!f.entries.includes(seq)) f.entries.push(seq);
}

function emptyMonth(month: string): MonthReport {
  return {
    month,
    received: figure(),
    byKind: {},
    byRequester: {},
    outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, figure()])) as Record<Outcome, Figure>,
    clipsShared: figure(),
    bytesShared: figure(),
  };
}

/** Refusals that are not a request's outcome: an identical copy of a request already received. */
const NOT_A_NEW_REQUEST = new Set(['duplicate']);

function isRequestTopic(topic: unknown): boolean {
  return typeof topic === 'string' && topic.endsWith('/request');
}

function counts(value: unknown): Record<string, number> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter(([, n]) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0)) as Record<string, number>;
}

/**
 * Builds the report from the log's entries (the stored JSON texts, in seq order). `since` (RFC 3339)
 * keeps entries at or after it.
 */
export function buildReport(entries: Iterable<string>, log: { size: number; rootHash: string }, since?: string): TransparencyReport {
  const months = new Map<string, MonthReport>();
  const approvedClips = new Map<string, number>();
  const monthOf = (e: Entry) => {
    const key = e.at.slice(0, 7);
    let m = months.get(key);
    if (!m) months.set(key, (m = emptyMonth(key)));
    return m;
  };
  const receivedFrom = (m: MonthReport, seq: number, kind: string, requester: string, n: number) => {
    add(m.received, seq, n);
    add((m.byKind[kind] ??= figure()), seq, n);
    add((m.byRequester[requester] ??= figure()), seq, n);
  };
  for (const text of entries) {
    let e: Entry;
    try {
      e = JSON.parse(text) as Entry;
    } catch {
      continue; // `audit verify` reports such an entry; the report counts what it can read
    }
    if (typeof e.at !== 'string' || (since && e.at < since)) continue;
    const m = monthOf(e);
    if (e.type === 'request') {
      const requester = (e.requester ?? {}) as { name?: unknown; kind?: unknown };
      receivedFrom(m, e.seq, String(requester.kind ?? 'unknown'), String(requester.name ?? 'unknown'), 1);
      if (e.state === 'no-footage') add(m.outcomes.noFootage, e.seq);
    } else if (e.type === 'refusal' && isRequestTopic(e.topic)) {
      const total = typeof e.count === 'number' ? e.count : 1;
      const reasons = total > 1 ? counts(e.reasons) : { [String(e.reason)]: 1 };
      const ignored = Object.entries(reasons).filter(([r]) => NOT_A_NEW_REQUEST.has(r)).reduce((n, [, c]) => n + c, 0);
      if (total - ignored <= 0) continue;
      const senders = total > 1 ? counts(e.senders) : { [String(e.requester ?? 'unknown')]: 1 };
      // Senders cannot be told apart from duplicates within a folded summary: all are listed.
      for (const [sender, n] of Object.entries(senders)) add((m.byRequester[sender] ??= figure()), e.seq, n);
      add(m.received, e.seq, total - ignored);
      add((m.byKind.unknown ??= figure()), e.seq, total - ignored);
      for (const [reason, n] of Object.entries(reasons)) {
        if (NOT_A_NEW_REQUEST.has(reason)) continue;
        add(reason === 'policy' ? m.outcomes.refusedByPolicy : m.outcomes.refusedAsInvalid, e.seq, n);
      }
    } else if (e.type === 'decision') {
      if (e.decision === 'approve') {
        add(m.outcomes.approved, e.seq);
        approvedClips.set(String(e.requestId), Array.isArray(e.clips) ? e.clips.length : 0);
      } else if (e.decision === 'deny') add(m.outcomes.denied, e.seq);
    } else if (e.type === 'expired') {
      add(m.outcomes.expired, e.seq);
    } else if (e.type === 'upload-result' && e.ok === true) {
      add(m.clipsShared, e.seq, approvedClips.get(String(e.requestId)) ?? 0);
      add(m.bytesShared, e.seq, typeof e.bytes === 'number' ? e.bytes : 0);
    } else if (e.type === 'evidence-export') {
      add(m.clipsShared, e.seq, typeof e.clips === 'number' ? e.clips : 0);
      add(m.bytesShared, e.seq, typeof e.bytes === 'number' ? e.bytes : 0);
    }
  }
  const nonEmpty = [...months.values()].filter(
    (m) => m.received.count || m.clipsShared.entries.length || OUTCOMES.some((o) => m.outcomes[o].count),
  );
  return { v: 1, since: since ?? null, log, months: nonEmpty.sort((a, b) => a.month.localeCompare(b.month)) };
}
