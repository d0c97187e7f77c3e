/** `doorbell audit report [--since DATE] [--json]`: the transparency report of this doorbell's log. */
import { buildReport, OUTCOMES, treeOfEntries, type Figure, type Outcome, type TransparencyReport } from '../audit/index.js';
import { parseIso } from '../clock.js';
import type { Db } from '../store/database.js';
import { hex, rootHash } from '../tlog/index.js';
import { formatBytes, print, printJson, type Flags } from './command.js';

const OUTCOME_LABELS: Record<Outcome, string> = {
  approved: 'approved',
  denied: 'denied',
  expired: 'expired',
  noFootage: 'no footage',
  refusedByPolicy: 'refused by policy',
  refusedAsInvalid: 'refused as invalid',
};

/** Reads the entries once for the report and once for the tree its figures are tied to. */
export function reportOf(db: Db, since?: string): TransparencyReport {
  const tree = treeOfEntries(db);
  const entries = db.prepare('SELECT entry FROM audit_log ORDER BY seq').pluck().iterate() as IterableIterator<string>;
  return buildReport(entries, { size: tree.size, rootHash: hex(rootHash(tree)) }, since);
}

function cite(f: Figure): string {
  if (!f.entries.length) return '';
  const shown = f.entries.slice(0, 12).map((s) => `#${s}`).join(' ');
  return ` [${shown}${f.entries.length > 12 ? ` and ${f.entries.length - 12} more` : ''}]`;
}

function breakdown(figures: Record<string, Figure>): string {
  return Object.entries(figures)
    .sort(([, a], [, b]) => b.count - a.count)
    .map(([name, f]) => `${name} ${f.count}${cite(f)}`)
    .join(', ');
}

export function runReport(db: Db, flags: Flags): number {
  let since: string | undefined;
  if (typeof flags.since === 'string') {
    const at = parseIso(flags.since.length === 10 ? `${flags.since}T00:00:00.000Z` : flags.since);
    if (!Number.isFinite(at)) throw new Error(`--since must be a date (2026-01-31) or an RFC 3339 time, got ${flags.since}`);
    since = new Date(at).toISOString();
  }
  const report = reportOf(db, since);
  if (flags.json) {
    printJson(report);
    return 0;
  }
  print(`Transparency report${since ? ` since ${since}` : ''}: log of ${report.log.size} entries, root ${report.log.rootHash}`);
  print('Figures in [brackets] are the audit entries (seq) they count; check them with "doorbell audit export".');
  if (!report.months.length) print('No requests in this period.');
  for (const m of report.months) {
    print(`\n${m.month}`);
    print(`  requests received: ${m.received.count}${cite(m.received)}`);
    if (m.received.count) {
      print(`    by kind: ${breakdown(m.byKind)}`);
      print(`    by requester: ${breakdown(m.byRequester)}`);
    }
    for (const o of OUTCOMES) print(`  ${OUTCOME_LABELS[o]}: ${m.outcomes[o].count}${cite(m.outcomes[o])}`);
    print(`  shared: ${m.clipsShared.count} clip(s), ${formatBytes(m.bytesShared.count)}${cite(m.bytesShared)}`);
  }
  return 0;
}
