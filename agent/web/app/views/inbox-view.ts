/** Every request waiting for the owner (the retained notices), newest first. */
import type { App } from '../app.js';
import { formatCountdown, formatWindow } from '../format.js';
import type { Change } from '../model.js';
import { destinationText } from '../../../envelope/index.js';
import type { Notice } from '../protocol.js';
import { h, replaceChildren } from './dom.js';
import { kindBadge, refusalNote } from './parts.js';
import type { View } from './view.js';

const MAX_THUMBS = 3;
/** The newest refusals since the page loaded; the Doorbell tab lists every one kept. */
const MAX_REFUSALS_SHOWN = 3;

export class InboxScreen implements View {
  readonly element = h('section', { class: 'screen', 'aria-label': 'Requests waiting for you' });
  readonly title = 'Inbox';

  constructor(private readonly app: App) {
    this.draw();
  }

  update(change: Change): void {
    if (change === 'inbox' || change === 'doorbell' || change === 'connection' || change === 'decision') this.draw();
  }

  private draw(): void {
    const m = this.app.model;
    const notices = [...m.notices.values()].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
    const offline = m.doorbell.state?.online === false;
    // Until the doorbell answers this page's ask, an empty list means "not known yet", not "nothing".
    const asking = m.connection.state === 'connected' && m.pairing !== undefined && !m.synced;
    replaceChildren(
      this.element,
      offline ? h('p', { class: 'callout callout--error', role: 'alert' }, `${m.deviceName} is offline. Requests arrive when it is back.`) : null,
      // Someone on the broker sent what the doorbell did not, as it did not: say so, never show it.
      m.refusals.filter((r) => r.at >= m.listeningSince).slice(0, MAX_REFUSALS_SHOWN).map((r) => refusalNote(r, 'p')),
      notices.length === 0
        ? h('div', { class: 'empty' },
            h('h2', {}, asking ? 'Asking the doorbell what waits for you…' : 'Nothing waiting'),
            h('p', {}, m.connection.state === 'connected'
              ? 'When someone asks for footage, the request appears here. Nothing leaves the doorbell unless you approve it.'
              : 'Connecting to the doorbell…'),
          )
        : h('ul', { class: 'list', 'aria-label': `${notices.length} waiting` }, notices.map((n) => h('li', {}, this.card(n)))),
    );
  }

  /** At most three thumbnails, then a "+N" tile: the pictures always add up to the clip count above them. */
  private thumbs(n: Notice): HTMLElement {
    const shown = n.clips.length > MAX_THUMBS ? MAX_THUMBS - 1 : n.clips.length;
    const more = n.clips.length - shown;
    return h('div', { class: 'thumbs', 'aria-hidden': 'true' },
      n.clips.slice(0, shown).map((c) => (c.thumbnail ? h('img', { src: c.thumbnail, alt: '', width: 96, height: 54 }) : h('span', { class: 'thumb-missing' }))),
      more > 0 ? h('span', { class: 'thumb-more', 'data-more': String(more) }, `+${more}`) : null,
    );
  }

  private card(n: Notice): HTMLElement {
    const sent = this.app.model.sent.get(n.requestId);
    return h(
      'a',
      { class: 'card notice', href: `#/request/${encodeURIComponent(n.requestId)}`, 'data-request-id': n.requestId },
      h('div', { class: 'row row--between' }, kindBadge(n.requester.kind), h('span', { class: 'muted', 'data-countdown': n.expiresAt }, formatCountdown(n.expiresAt))),
      h('h2', { class: 'notice__who' }, n.requester.name),
      n.requester.caseNumber ? h('p', { class: 'muted' }, `Case ${n.requester.caseNumber}`) : null,
      h('p', { class: 'notice__reason' }, n.reason),
      h('p', { class: 'muted' }, `${n.clips.length} clip${n.clips.length === 1 ? '' : 's'} · ${formatWindow(n.window.from, n.window.to)}`),
      h('p', { class: 'muted' }, 'To ', h('strong', { class: 'destination' }, destinationText(n.destination))),
      this.thumbs(n),
      sent ? h('p', { class: 'tag tag--sent' }, sent.decision === 'approve' ? 'Approval sent' : 'Denial sent') : null,
    );
  }
}
