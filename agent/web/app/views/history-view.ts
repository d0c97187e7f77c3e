/** Past requests and their outcomes, as this phone saw them. */
import type { App } from '../app.js';
import { formatDateTime } from '../format.js';
import type { HistoryEntry } from '../history.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import { kindBadge, stateBadge } from './parts.js';
import type { View } from './view.js';

export class HistoryScreen implements View {
  readonly element = h('section', { class: 'screen', 'aria-label': 'Past requests' });
  readonly title = 'History';

  constructor(private readonly app: App) {
    this.draw();
  }

  update(change: Change): void {
    if (change === 'history' || change === 'status') this.draw();
  }

  private draw(): void {
    const entries = this.app.historyEntries?.list() ?? [];
    replaceChildren(
      this.element,
      entries.length === 0
        ? h('div', { class: 'empty' }, h('h2', {}, 'No requests yet'), h('p', {}, 'Requests and what became of them are listed here.'))
        : h('ul', { class: 'list' }, entries.map((e) => h('li', {}, this.item(e)))),
    );
  }

  private item(e: HistoryEntry): HTMLElement {
    const last = e.states[e.states.length - 1];
    const live = this.app.model.statuses.get(e.requestId);
    const state = live?.state ?? last?.state;
    return h(
      'a',
      { class: 'card history-item', href: `#/request/${encodeURIComponent(e.requestId)}`, 'data-request-id': e.requestId },
      h('div', { class: 'row row--between' }, e.requester ? kindBadge(e.requester.kind) : h('span', {}), state ? stateBadge(state) : null),
      h('h2', { class: 'notice__who' }, e.requester?.name ?? e.requestId),
      e.reason ? h('p', { class: 'notice__reason' }, e.reason) : null,
      h('p', { class: 'muted' }, outcome(e)),
      last?.detail ? h('p', { class: 'muted' }, last.detail) : null,
    );
  }
}

function outcome(e: HistoryEntry): string {
  const when = formatDateTime(e.decision?.at ?? e.receivedAt ?? e.states[0]?.at ?? '');
  if (!e.decision) return `Received ${when}`;
  const n = e.decision.clipIds.length;
  return e.decision.decision === 'approve' ? `You approved ${n} clip${n === 1 ? '' : 's'} · ${when}` : `You denied it · ${when}`;
}
