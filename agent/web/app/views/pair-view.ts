/** Pairing: the owner types the doorbell's 6-digit code; the app sends its new key and waits for the doorbell. */
import type { App } from '../app.js';
import { fingerprint } from '../keys.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import type { View } from './view.js';

const POLL_MS = 2000;

interface PairingWindowInfo {
  open: boolean;
  code?: string;
  expiresAt?: string;
}

export class PairScreen implements View {
  readonly element: HTMLElement;
  readonly title = 'Pair';
  private readonly result = h('div', { class: 'pair-result', role: 'status', 'aria-live': 'polite' });
  private readonly windowInfo = h('div', { class: 'pair-window', 'aria-live': 'polite' });
  private readonly form: HTMLFormElement;
  private readonly intro: HTMLElement;
  private readonly code = h('input', {
    id: 'pair-code',
    name: 'code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]{6}',
    maxlength: 6,
    required: true,
    placeholder: '123456',
    'aria-describedby': 'pair-code-help',
  });
  private readonly name = h('input', { id: 'owner-name', name: 'name', autocomplete: 'nickname', maxlength: 64, required: true, value: 'My phone' });
  private readonly submit = h('button', { type: 'submit', class: 'button button--primary button--wide' }, 'Pair');
  private poll: number | undefined;
  private disposed = false;
  private shownState: string | undefined;

  constructor(private readonly app: App) {
    this.form = h(
      'form',
      { class: 'stack', novalidate: true, onsubmit: (e) => this.onSubmit(e) },
      h('label', { for: 'owner-name' }, 'Name for this phone'),
      this.name,
      h('label', { for: 'pair-code' }, 'Pairing code'),
      this.code,
      h('p', { id: 'pair-code-help', class: 'help' }, 'Six digits, valid for 2 minutes.'),
      this.submit,
    );
    this.intro = h('div', { class: 'card stack' },
      h('h2', { id: 'pair-heading' }, `Pair this phone with ${app.model.deviceName}`),
      h('p', {}, 'On the doorbell, hold the button for 5 seconds, or run ', h('code', {}, 'doorbell pair'), ' on it. It shows a 6-digit code for 2 minutes.'),
      this.windowInfo,
      this.form,
    );
    this.element = h('section', { class: 'screen', 'aria-labelledby': 'pair-heading' }, this.intro, this.result);
    this.update('pairing');
    void this.pollWindow();
  }

  update(change: Change): void {
    if (change !== 'pairing' && change !== 'connection') return;
    const m = this.app.model;
    const attempt = m.attempt;
    const newOutcome = attempt?.state !== this.shownState;
    this.shownState = attempt?.state;
    const waiting = attempt?.state === 'waiting';
    this.submit.disabled = waiting;
    this.submit.textContent = waiting ? 'Waiting for the doorbell…' : 'Pair';
    this.intro.hidden = m.pairing !== undefined;
    if (m.pairing) {
      replaceChildren(
        this.result,
        h('div', { class: 'callout callout--ok stack', 'data-paired': m.pairing.keyId },
          h('h2', {}, `Paired with ${m.deviceName}`),
          h('p', {}, 'This phone’s key fingerprint:'),
          h('p', { class: 'fingerprint', 'data-key-id': m.pairing.keyId }, fingerprint(m.pairing.keyId)),
          h('p', { class: 'help' }, 'The doorbell lists the same fingerprint (without spaces) in ', h('code', {}, 'doorbell owner list'), '.'),
          h('a', { class: 'button button--primary button--wide', href: '#/inbox' }, 'Open the inbox'),
        ),
      );
      return;
    }
    if (!attempt) replaceChildren(this.result);
    else if (attempt.state === 'waiting') {
      replaceChildren(
        this.result,
        h('div', { class: 'callout stack', 'data-pairing': 'waiting' },
          h('p', {}, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Offer sent. Waiting for the doorbell to confirm…'),
          h('p', {}, 'This phone’s key fingerprint: ', h('span', { class: 'fingerprint', 'data-key-id': attempt.keyId }, fingerprint(attempt.keyId))),
        ),
      );
    } else if (attempt.state === 'refused') {
      replaceChildren(
        this.result,
        h('div', { class: 'callout callout--error stack', role: 'alert', 'data-pairing': 'refused' },
          h('h2', {}, 'The doorbell did not accept this code'),
          h('p', {}, 'Check the 6 digits, and that the pairing window is still open: it closes after 2 minutes, or after 5 wrong codes. Then open it again on the doorbell and retry.'),
        ),
      );
    } else {
      replaceChildren(this.result, h('div', { class: 'callout callout--error', role: 'alert', 'data-pairing': 'failed' }, attempt.detail));
    }
    // The form fills the screen: bring the answer into view when it changes.
    if (newOutcome && attempt) this.result.scrollIntoView({ block: 'nearest' });
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.poll);
  }

  private onSubmit(event: Event): void {
    event.preventDefault();
    const code = this.code.value.replace(/\s/g, '');
    this.app.pair(code, this.name.value.trim()).catch((err: Error) => {
      this.app.model.attempt = { state: 'failed', detail: err.message };
      this.app.model.emit('pairing');
    });
  }

  /** The agent's own page shows an open pairing window's code (PROTOCOL.md); elsewhere there is none to show. */
  private async pollWindow(): Promise<void> {
    let info: PairingWindowInfo | undefined;
    try {
      const response = await fetch('/pairing.json', { cache: 'no-store' });
      info = response.ok ? ((await response.json()) as PairingWindowInfo) : undefined;
    } catch (err) {
      console.warn('pairing window state unavailable', err);
    }
    if (this.app.model.pairing || info?.open !== true || !info.code) replaceChildren(this.windowInfo);
    else {
      const code = info.code;
      replaceChildren(
        this.windowInfo,
        h('div', { class: 'callout callout--info stack' },
          h('p', {}, 'The doorbell’s pairing window is open. Its code: ', h('strong', { class: 'code' }, code)),
          h('button', { type: 'button', class: 'button', onclick: () => { this.code.value = code; this.code.focus(); } }, 'Use this code'),
        ),
      );
    }
    if (!this.disposed) this.poll = window.setTimeout(() => void this.pollWindow(), POLL_MS);
  }
}
