/** The doorbell itself: online, camera, storage, the latest events and snapshot, and the audit log's checkpoint. */
import type { App } from '../app.js';
import { b64urlDecode } from '../encoding.js';
import { formatBytes, formatDateTime, formatTime } from '../format.js';
import { fingerprint, keyIdOf } from '../keys.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import { refusalNote } from './parts.js';
import type { View } from './view.js';

export class DoorbellScreen implements View {
  readonly element = h('section', { class: 'screen', 'aria-label': 'The doorbell' });
  readonly title: string;
  private deviceKeyId: string | undefined;
  private historyProblem: string | undefined;
  /** The snapshot fetched from the doorbell on request: a blob: URL, or why it failed. */
  private onDemand: { url?: string; error?: string; loading?: boolean } = {};

  constructor(private readonly app: App) {
    this.title = app.model.deviceName;
    this.draw();
    if (app.model.pairing) {
      app.refreshEvents().catch((err: Error) => {
        this.historyProblem = `The doorbell’s own history could not be read: ${err.message}`;
        this.draw();
      });
    }
    const key = app.model.pairing?.devicePublicKey;
    if (key) {
      keyIdOf(b64urlDecode(key))
        .then((id) => {
          this.deviceKeyId = id;
          this.draw();
        })
        .catch((err: Error) => console.warn('the device key learned at pairing is malformed', err));
    }
  }

  update(change: Change): void {
    if (change === 'doorbell' || change === 'connection') this.draw();
  }

  private draw(): void {
    replaceChildren(this.element, this.stateCard(), this.snapshotCard(), this.eventsCard(), this.transparencyCard());
  }

  private stateCard(): HTMLElement {
    const s = this.app.model.doorbell.state;
    if (!s) return h('div', { class: 'card' }, h('h2', {}, 'State'), h('p', { class: 'muted' }, 'No state received yet.'));
    const row = (term: string, value: string | HTMLElement) => [h('dt', {}, term), h('dd', {}, value)];
    const storage = s.storage;
    return h(
      'div',
      { class: 'card stack', 'data-online': String(s.online) },
      h('h2', {}, 'State'),
      h('dl', { class: 'facts' },
        row('Doorbell', h('span', { class: `state state--${s.online ? 'ok' : 'error'}` }, s.online ? 'Online' : 'Offline')),
        s.camera
          ? row('Camera', h('span', { class: `state state--${s.camera.ok ? 'ok' : 'error'}` }, s.camera.ok ? 'Working' : `Not working${s.camera.detail ? `: ${s.camera.detail}` : ''}`))
          : null,
        s.camera?.since ? row(s.camera.ok ? 'Working since' : 'Down since', formatDateTime(s.camera.since)) : null,
        storage ? row('Storage', `${formatBytes(storage.usedBytes)} of ${formatBytes(storage.capBytes)} · ${storage.clips} clips`) : null,
        row('Waiting for you', String(this.app.model.notices.size)),
        s.version ? row('Agent version', s.version) : null,
      ),
      storage && storage.capBytes > 0
        ? h('meter', { min: 0, max: storage.capBytes, value: storage.usedBytes, high: storage.capBytes * 0.9, 'aria-label': 'Storage used' })
        : null,
    );
  }

  private snapshotCard(): HTMLElement {
    const d = this.app.model.doorbell;
    const last = d.events[0];
    return h(
      'div',
      { class: 'card stack' },
      h('h2', {}, 'Latest snapshot'),
      this.onDemand.url
        ? h('img', { class: 'snapshot', 'data-snapshot': 'on-demand', src: this.onDemand.url, alt: 'Snapshot from the doorbell' })
        : d.snapshot
          ? h('img', { class: 'snapshot', src: d.snapshot, alt: last ? `Snapshot of the ${last.type} at ${formatTime(last.at)}` : 'Latest snapshot' })
          : h('p', { class: 'muted' }, 'No snapshot yet.'),
      this.onDemand.error ? h('p', { class: 'callout callout--error', role: 'alert' }, this.onDemand.error) : null,
      h('button', { type: 'button', class: 'button button--small', 'data-role': 'fetch-snapshot', disabled: Boolean(this.onDemand.loading), onclick: () => this.fetchSnapshot() },
        this.onDemand.loading ? 'Opening…' : 'Show the doorbell’s picture'),
    );
  }

  /** Asks the doorbell itself (its web port, sealed to this phone) rather than waiting for the next event. */
  private fetchSnapshot(): void {
    this.onDemand = { ...this.onDemand, loading: true };
    this.draw();
    this.app
      .watch('snapshot')
      .then((blob) => {
        if (this.onDemand.url) URL.revokeObjectURL(this.onDemand.url);
        this.onDemand = { url: URL.createObjectURL(blob) };
      })
      .catch((err: Error) => (this.onDemand = { ...this.onDemand, loading: false, error: err.message }))
      .finally(() => this.draw());
  }

  /** Rings and motion, and among them, in time order, every message refused on the broker that this phone kept. */
  private eventsCard(): HTMLElement {
    const { doorbell, refusals } = this.app.model;
    const rows = [
      ...doorbell.events.map((e) => {
        const thumbnail = (e as { thumbnail?: string }).thumbnail;
        return { at: e.at, row: h('li', { class: 'event', 'data-event-type': e.type },
          thumbnail ? h('img', { class: 'event__thumb', src: thumbnail, alt: '', width: 96, height: 54 }) : h('span', { class: 'event__thumb thumb-missing' }),
          h('strong', {}, e.type === 'ring' ? 'Ring' : 'Motion'), ` · ${formatDateTime(e.at)} · ${e.source}`) };
      }),
      ...refusals.map((r) => ({ at: r.at, row: refusalNote(r, 'li') })),
    ].sort((a, b) => b.at.localeCompare(a.at));
    return h(
      'div',
      { class: 'card stack' },
      h('h2', {}, 'Recent rings and motion'),
      this.historyProblem ? h('p', { class: 'callout callout--error' }, this.historyProblem) : null,
      rows.length === 0 ? h('p', { class: 'muted' }, 'None yet.') : h('ul', { class: 'events' }, rows.map((r) => r.row)),
    );
  }

  private transparencyCard(): HTMLElement {
    const { checkpointVerdict: verdict } = this.app.model.doorbell;
    // What this phone has verified: while a proof is awaited, still the older checkpoint.
    const kept = verdict?.state === 'verified' ? verdict.checkpoint : verdict?.state === 'needs-proof' ? verdict.kept : undefined;
    const callout = !verdict
      ? h('p', { class: 'muted' }, 'No signed checkpoint received yet.')
      : verdict.state === 'verified'
        ? h('p', { class: 'callout callout--ok', 'data-head-verified': 'true' }, 'Signed with the key this doorbell had at pairing, and consistent with every earlier checkpoint this phone saw.')
        : verdict.state === 'needs-proof'
          ? h('p', { class: 'callout callout--info', 'data-head-verified': 'pending' }, `Signature verified. Waiting for the doorbell's proof that its ${verdict.checkpoint.size} entries extend the ${verdict.kept.size} this phone saw.`)
          : h('p', { class: 'callout callout--error', 'data-head-verified': 'false' }, `Not verified: ${verdict.reason}.`);
    return h(
      'div',
      { class: 'card stack' },
      h('h2', {}, 'Audit log'),
      h('p', { class: 'help' }, 'The doorbell records every request, decision and upload in a Merkle log and signs checkpoints of it. This phone keeps the newest one and checks that later ones extend it.'),
      kept
        ? h('dl', { class: 'facts' },
            h('dt', {}, 'Entries'), h('dd', {}, String(kept.size)),
            h('dt', {}, 'Root hash'), h('dd', {}, h('code', {}, `${kept.rootHash.slice(0, 16)}…`)),
            h('dt', {}, 'Device key'), h('dd', {}, this.deviceKeyId ? h('span', { class: 'fingerprint' }, fingerprint(this.deviceKeyId)) : '—'),
          )
        : null,
      callout,
      h('a', { class: 'button', href: '#/report' }, 'Transparency report'),
    );
  }
}
