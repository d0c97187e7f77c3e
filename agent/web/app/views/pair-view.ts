/**
 * Pairing: the owner types the code the doorbell shows (its console, `doorbell pair` in its shell, or
 * an install's setup code: never this page, which anyone on the network can load); the app pairs
 * with fresh keys and shows the doorbell's fingerprint to compare with `doorbell owner list`.
 */
import type { App } from '../app.js';
import { fingerprint } from '../keys.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import type { View } from './view.js';

export class PairScreen implements View {
  readonly element: HTMLElement;
  readonly title = 'Pair';
  private readonly result = h('div', { class: 'pair-result', role: 'status', 'aria-live': 'polite' });
  private readonly form: HTMLFormElement;
  private readonly intro: HTMLElement;
  private readonly code = h('input', {
    id: 'pair-code',
    name: 'code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9 -]{10,19}',
    maxlength: 19,
    required: true,
    placeholder: '12345 67890',
    'aria-describedby': 'pair-code-help',
  });
  private readonly name = h('input', { id: 'owner-name', name: 'name', autocomplete: 'nickname', maxlength: 64, required: true, value: 'My phone' });
  private readonly submit = h('button', { type: 'submit', class: 'button button--primary button--wide' }, 'Pair');
  private shownState: string | undefined;

  constructor(private readonly app: App) {
    this.form = h(
      'form',
      { class: 'stack', novalidate: true, onsubmit: (e) => this.onSubmit(e) },
      h('label', { for: 'owner-name' }, 'Name for this phone'),
      this.name,
      h('label', { for: 'pair-code' }, 'Pairing code'),
      this.code,
      h('p', { id: 'pair-code-help', class: 'help' }, '10 digits, valid for 2 minutes; or the 16-digit setup code printed when the doorbell was installed.'),
      this.submit,
    );
    this.intro = h('div', { class: 'card stack' },
      h('h2', { id: 'pair-heading' }, `Pair this phone with ${app.model.deviceName}`),
      h('p', {}, 'On the doorbell, hold the button for 5 seconds, or run ', h('code', {}, 'doorbell pair'), ' in its shell. It shows a 10-digit code for 2 minutes.'),
      h('p', { class: 'help' }, 'The code is shown only on the doorbell itself, never on a web page: whoever has it can pair.'),
      this.form,
    );
    this.element = h('section', { class: 'screen', 'aria-labelledby': 'pair-heading' }, this.intro, this.result);
    this.update('pairing');
  }

  update(change: Change): void {
    if (change !== 'pairing' && change !== 'connection') return;
    const m = this.app.model;
    const attempt = m.attempt;
    const newOutcome = attempt?.state !== this.shownState;
    this.shownState = attempt?.state;
    const waiting = attempt?.state === 'waiting';
    this.submit.disabled = waiting;
    this.submit.textContent = waiting ? 'Pairing…' : 'Pair';
    this.intro.hidden = m.pairing !== undefined;
    if (m.pairing) {
      replaceChildren(
        this.result,
        h('div', { class: 'callout callout--ok stack', 'data-paired': m.pairing.keyId },
          h('h2', {}, `Paired with ${m.deviceName}`),
          h('p', {}, 'The doorbell’s fingerprint (it proved it knew the code):'),
          h('p', { class: 'fingerprint', 'data-device-key-id': m.pairing.deviceKeyId }, fingerprint(m.pairing.deviceKeyId)),
          h('p', { class: 'help' }, 'Compare it with the device fingerprint ', h('code', {}, 'doorbell owner list'), ' prints on the doorbell.'),
          h('p', {}, 'This phone’s key fingerprint: ', h('span', { class: 'fingerprint', 'data-key-id': m.pairing.keyId }, fingerprint(m.pairing.keyId))),
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
          h('p', {}, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Pairing with the doorbell…'),
          attempt.keyId
            ? h('p', {}, 'This phone’s new key fingerprint: ', h('span', { class: 'fingerprint', 'data-key-id': attempt.keyId }, fingerprint(attempt.keyId)))
            : h('p', {}, 'Making this phone’s keys…'),
        ),
      );
    } else if (attempt.state === 'refused') {
      replaceChildren(
        this.result,
        h('div', { class: 'callout callout--error stack', role: 'alert', 'data-pairing': 'refused' },
          h('h2', {}, 'The doorbell did not accept this code'),
          h('p', {}, attempt.detail),
        ),
      );
    } else {
      replaceChildren(this.result, h('div', { class: 'callout callout--error', role: 'alert', 'data-pairing': 'failed' }, attempt.detail));
    }
    // The form fills the screen: bring the answer into view when it changes.
    if (newOutcome && attempt) this.result.scrollIntoView({ block: 'nearest' });
  }

  private onSubmit(event: Event): void {
    event.preventDefault();
    this.app.pair(this.code.value, this.name.value.trim()).catch((err: Error) => {
      this.app.model.attempt = { state: 'failed', detail: err.message };
      this.app.model.emit('pairing');
    });
  }
}
