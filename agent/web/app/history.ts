/** Past requests and what became of them, kept on the phone (the device clears statuses after 7 days). */
import type { Notice, RequestState, RequestStatus } from './protocol.js';
import type { KeyValueStore } from './storage.js';

const MAX_ENTRIES = 200;

export interface HistoryEntry {
  requestId: string;
  requester?: { name: string; kind: string; caseNumber?: string };
  reason?: string;
  host?: string;
  receivedAt?: string;
  window?: { from: string; to: string };
  clips?: { id: string; start: string; end: string; bytes: number }[];
  decision?: { decision: 'approve' | 'deny'; at: string; clipIds: string[] };
  /** Every state change seen, oldest first; progress updates are not kept. */
  states: { state: RequestState; at: string; detail?: string }[];
}

export class RequestHistory {
  private entries = new Map<string, HistoryEntry>();

  constructor(
    private readonly store: KeyValueStore,
    private readonly key: string,
  ) {}

  async load(): Promise<void> {
    const saved = (await this.store.get<HistoryEntry[]>(this.key)) ?? [];
    this.entries = new Map(saved.map((e) => [e.requestId, e]));
  }

  /** Newest first. */
  list(): HistoryEntry[] {
    return [...this.entries.values()].sort((a, b) => latestAt(b).localeCompare(latestAt(a)));
  }

  get(requestId: string): HistoryEntry | undefined {
    return this.entries.get(requestId);
  }

  /** Returns whether anything changed. */
  recordNotice(notice: Notice): boolean {
    const entry = this.entry(notice.requestId);
    if (entry.requester) return false;
    entry.requester = notice.requester;
    entry.reason = notice.reason;
    entry.host = notice.destination.host;
    entry.receivedAt = notice.receivedAt;
    entry.window = notice.window;
    entry.clips = notice.clips.map(({ id, start, end, bytes }) => ({ id, start, end, bytes }));
    return true;
  }

  recordDecision(requestId: string, decision: 'approve' | 'deny', clipIds: string[], at: string): void {
    this.entry(requestId).decision = { decision, at, clipIds };
  }

  /** Returns whether anything changed: a new state or a new detail, not mere progress. */
  recordStatus(status: RequestStatus): boolean {
    const entry = this.entry(status.requestId);
    const last = entry.states[entry.states.length - 1];
    if (last && last.state === status.state && (last.detail ?? '') === (status.detail ?? '')) return false;
    if (entry.states.some((s) => s.at === status.at && s.state === status.state)) return false;
    entry.states.push({ state: status.state, at: status.at, ...(status.detail ? { detail: status.detail } : {}) });
    return true;
  }

  async save(): Promise<void> {
    await this.store.put(this.key, this.list().slice(0, MAX_ENTRIES));
  }

  private entry(requestId: string): HistoryEntry {
    let entry = this.entries.get(requestId);
    if (!entry) {
      entry = { requestId, states: [] };
      this.entries.set(requestId, entry);
    }
    return entry;
  }
}

function latestAt(e: HistoryEntry): string {
  return e.states[e.states.length - 1]?.at ?? e.decision?.at ?? e.receivedAt ?? '';
}
