/** One request: its details, the clips to choose from, Approve / Deny, then its live status. */
import type { App } from '../app.js';
import { clipLength, formatBytes, formatCountdown, formatDateTime, formatTime, formatWindow } from '../format.js';
import type { HistoryEntry } from '../history.js';
import type { Change } from '../model.js';
import { describeRequesterKey, destinationText } from '../../../envelope/index.js';
import { isRefusal, isTerminal, type Notice } from '../protocol.js';
import { h, replaceChildren, type Child } from './dom.js';
import { kindBadge, statusPanel } from './parts.js';
import type { View } from './view.js';

/** "Watch": the clip itself, opened on this phone, before the owner decides to share it. */
function clipPlayer(app: App, clipId: string, index: number): HTMLElement {
  const slot = h('div', { class: 'clip-player' });
  const button = h('button', { type: 'button', class: 'button button--small', 'data-watch': clipId }, `Watch clip ${index + 1}`);
  button.onclick = () => {
    button.disabled = true;
    button.textContent = 'Opening…';
    app
      .watch(`clip/${clipId}`)
      .then((blob) => {
        const video = h('video', { controls: true, playsinline: true, preload: 'auto', 'data-clip-video': clipId, src: URL.createObjectURL(blob) });
        replaceChildren(slot, video);
      })
      .catch((err: Error) => {
        button.disabled = false;
        button.textContent = `Watch clip ${index + 1}`;
        slot.append(h('p', { class: 'callout callout--error', role: 'alert' }, err.message));
      });
  };
  slot.append(button);
  return slot;
}

export class RequestScreen implements View {
  readonly element = h('section', { class: 'screen screen--with-actions' });
  readonly title = 'Request';
  private readonly status = h('div', { class: 'status-area', 'aria-live': 'polite' });
  private readonly actions = h('div', { class: 'actionbar' });
  private readonly selectionInfo = h('p', { class: 'muted', 'aria-live': 'polite' });
  private notice: Notice | undefined;

  constructor(
    private readonly app: App,
    private readonly requestId: string,
  ) {
    this.element.dataset.requestId = requestId;
    this.draw();
  }

  update(change: Change): void {
    if (change === 'inbox' && this.app.model.notices.get(this.requestId) !== this.notice) this.draw();
    else if (change === 'status' || change === 'decision') this.drawLive();
  }

  get back(): { href: string; label: string } {
    return this.pending ? { href: '#/inbox', label: 'Back to the inbox' } : { href: '#/history', label: 'Back to the history' };
  }

  private get pending(): boolean {
    return this.app.model.notices.has(this.requestId);
  }

  private draw(): void {
    const m = this.app.model;
    this.notice = m.notices.get(this.requestId);
    const shown = this.notice ?? m.seenNotices.get(this.requestId);
    const entry = this.app.historyEntries?.get(this.requestId);
    replaceChildren(
      this.element,
      shown ? this.details(shown) : entry ? this.summary(entry) : h('p', { class: 'empty' }, 'This request is not known on this phone.'),
      shown && this.pending ? this.clips(shown) : null,
      !this.pending && entry?.decision && !m.sent.has(this.requestId) ? h('p', { class: 'card' }, decisionText(entry)) : null,
      this.status,
      shown ? this.moreDetails(shown) : null,
      this.actions,
    );
    this.drawLive();
  }

  private details(n: Notice): HTMLElement {
    return h(
      'article',
      { class: 'card stack', 'aria-labelledby': 'request-who' },
      h('div', { class: 'row row--between' }, kindBadge(n.requester.kind), this.pending ? h('span', { class: 'muted', 'data-countdown': n.expiresAt }, formatCountdown(n.expiresAt)) : null),
      h('h2', { id: 'request-who', class: 'notice__who' }, n.requester.name),
      n.requester.caseNumber ? h('p', { class: 'muted' }, `Case ${n.requester.caseNumber}`) : null,
      h('p', { class: 'muted', 'data-requester-key': '' }, describeRequesterKey(n.requester)),
      h('p', { class: 'notice__reason' }, n.reason),
      h('p', {}, 'Footage from ', h('strong', {}, formatWindow(n.window.from, n.window.to))),
      h('p', {}, 'Sends to ', h('strong', { class: 'destination', 'data-destination': '' }, destinationText(n.destination))),
      h('p', { class: 'muted destination', 'data-receipt-to': '' }, n.receiptTo ? `The requester’s receipt goes to ${n.receiptTo}` : 'The requester asked for no receipt'),
    );
  }

  /** What matters less for the decision, below the clips. */
  private moreDetails(n: Notice): HTMLElement {
    const row = (term: string, ...value: Child[]) => [h('dt', {}, term), h('dd', {}, ...value)];
    return h(
      'dl',
      { class: 'card facts' },
      n.requester.contact ? row('Contact', n.requester.contact) : null,
      row('Received', formatDateTime(n.receivedAt)),
      row('Request id', h('code', {}, n.requestId)),
    );
  }

  private summary(e: HistoryEntry): HTMLElement {
    return h(
      'article',
      { class: 'card stack' },
      e.requester ? kindBadge(e.requester.kind) : null,
      h('h2', { class: 'notice__who' }, e.requester?.name ?? e.requestId),
      e.reason ? h('p', { class: 'notice__reason' }, e.reason) : null,
      e.host ? h('p', { class: 'muted' }, 'Sends to ', h('strong', {}, e.host)) : null,
      e.window ? h('p', { class: 'muted' }, `Footage from ${formatWindow(e.window.from, e.window.to)}`) : null,
    );
  }

  private clips(n: Notice): HTMLElement {
    const selected = this.app.model.selection(this.requestId);
    const list = h(
      'ul',
      { class: 'clips' },
      n.clips.map((clip, i) =>
        h(
          'li',
          { class: 'clip-item' },
          h(
            'label',
            { class: 'clip', 'data-clip-id': clip.id },
            h('input', {
              type: 'checkbox',
              name: 'clip',
              value: clip.id,
              checked: selected.has(clip.id),
              onchange: (e) => {
                if ((e.target as HTMLInputElement).checked) selected.add(clip.id);
                else selected.delete(clip.id);
                this.drawLive();
              },
            }),
            clip.thumbnail
              ? h('img', { class: 'clip__thumb', src: clip.thumbnail, alt: `Clip ${i + 1}, ${formatTime(clip.start)}`, width: 112, height: 63 })
              : h('span', { class: 'clip__thumb thumb-missing' }, 'No preview'),
            h(
              'span',
              { class: 'clip__text' },
              h('strong', {}, capitalise(clip.trigger || 'clip')),
              h('span', {}, formatTime(clip.start)),
              h('span', { class: 'muted' }, `${clipLength(clip.start, clip.end)} · ${formatBytes(clip.bytes)}`),
            ),
          ),
          clipPlayer(this.app, clip.id, i),
        ),
      ),
    );
    const toggle = h('button', { type: 'button', class: 'button button--small', onclick: () => this.toggleAll(n) }, 'Select none');
    toggle.dataset.role = 'toggle-all';
    return h(
      'section',
      { class: 'card stack', 'aria-labelledby': 'clips-heading' },
      h('div', { class: 'row row--between' }, h('h2', { id: 'clips-heading' }, 'Clips'), toggle),
      this.selectionInfo,
      list,
    );
  }

  private toggleAll(n: Notice): void {
    const selected = this.app.model.selection(this.requestId);
    const all = selected.size < n.clips.length;
    selected.clear();
    if (all) for (const c of n.clips) selected.add(c.id);
    for (const box of this.element.querySelectorAll<HTMLInputElement>('input[name="clip"]')) box.checked = all;
    this.drawLive();
  }

  /** Status, errors and the action buttons: what changes while the owner looks at the request. */
  private drawLive(): void {
    const m = this.app.model;
    const status = m.statuses.get(this.requestId);
    const sent = m.sent.get(this.requestId);
    const error = m.decisionErrors.get(this.requestId);
    const deciding = this.app.isDeciding(this.requestId);
    replaceChildren(
      this.status,
      error ? h('p', { class: 'callout callout--error', role: 'alert', 'data-decision-error': '' }, error) : null,
      sent ? h('p', { class: 'callout callout--info', 'data-sent': sent.decision }, sentText(sent.decision, sent.clipIds.length, sent.at)) : null,
      // Before a decision, "waiting for you" says nothing the screen does not; after one, the status is the news.
      sent || (status && (status.state !== 'pending' || isRefusal(status))) ? statusPanel(status) : null,
    );
    const notice = this.notice;
    const open = this.pending && notice && !sent && !(status && isTerminal(status.state));
    if (!open || !notice) {
      replaceChildren(this.actions);
      this.actions.hidden = true;
      return;
    }
    const selected = m.selection(this.requestId);
    const count = notice.clips.filter((c) => selected.has(c.id)).length;
    const bytes = notice.clips.filter((c) => selected.has(c.id)).reduce((sum, c) => sum + c.bytes, 0);
    replaceChildren(this.selectionInfo, `${count} of ${notice.clips.length} selected · ${formatBytes(bytes)}`);
    const toggle = this.element.querySelector<HTMLButtonElement>('[data-role="toggle-all"]');
    if (toggle) toggle.textContent = count < notice.clips.length ? 'Select all' : 'Select none';
    this.actions.hidden = false;
    replaceChildren(
      this.actions,
      h('p', { class: 'actionbar__note' }, 'Approved clips go only to ', h('strong', { class: 'destination' }, destinationText(notice.destination)), '.'),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'button button--danger', 'data-action': 'deny', disabled: deciding, onclick: () => void this.app.decide(this.requestId, 'deny') }, 'Deny'),
        h(
          'button',
          { type: 'button', class: 'button button--primary', 'data-action': 'approve', disabled: deciding || count === 0, onclick: () => void this.app.decide(this.requestId, 'approve') },
          count === 0 ? 'Select clips to approve' : `Approve ${count} clip${count === 1 ? '' : 's'}`,
        ),
      ),
    );
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function sentText(decision: 'approve' | 'deny', clips: number, at: string): string {
  return decision === 'approve'
    ? `You approved ${clips} clip${clips === 1 ? '' : 's'} at ${formatTime(at)}. Signed and sent.`
    : `You denied this request at ${formatTime(at)}. Signed and sent; the requester is told nothing.`;
}

function decisionText(e: HistoryEntry): string {
  const d = e.decision!;
  return sentText(d.decision, d.clipIds.length, d.at);
}
