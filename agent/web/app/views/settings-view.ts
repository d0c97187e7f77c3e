/** Where the doorbell is, and this phone's key. */
import type { PushKind } from '../../../push/subscription-message.js';
import { pushSupported, type PushChoice } from '../push.js';
import type { App } from '../app.js';
import { formatDateTime } from '../format.js';
import { fingerprint } from '../keys.js';
import type { Change } from '../model.js';
import type { SettingsOverrides } from '../settings.js';
import { h, replaceChildren } from './dom.js';
import type { View } from './view.js';

interface Field {
  key: keyof SettingsOverrides;
  label: string;
  type?: string;
  help?: string;
  autocomplete?: string;
}

const FIELDS: Field[] = [
  { key: 'brokerWsUrl', label: 'Broker address', type: 'url', help: 'ws:// or wss:// URL of the MQTT broker' },
  { key: 'deviceId', label: 'Device id' },
  { key: 'deviceName', label: 'Doorbell name' },
  { key: 'prefix', label: 'Topic prefix' },
  { key: 'username', label: 'Broker user name (optional)', autocomplete: 'username' },
  { key: 'password', label: 'Broker password (optional)', type: 'password', autocomplete: 'current-password' },
];

export class SettingsScreen implements View {
  readonly element = h('section', { class: 'screen', 'aria-label': 'Settings' });
  readonly title = 'Settings';
  private readonly inputs = new Map<keyof SettingsOverrides, HTMLInputElement>();
  private readonly message = h('div', { role: 'status', 'aria-live': 'polite' });

  private readonly notificationsCard = h('form', { class: 'card stack', 'aria-labelledby': 'notifications-heading', 'data-role': 'notifications' });

  constructor(private readonly app: App) {
    this.draw();
    void this.drawNotifications();
  }

  /** Per-kind switches: what the doorbell may push to this phone while the app is closed. */
  private async drawNotifications(): Promise<void> {
    const form = this.notificationsCard;
    if (!this.app.model.pairing) return replaceChildren(form);
    const choice = await this.app.pushChoice().catch(() => undefined);
    const kinds: [PushKind, string][] = [['ring', 'Someone rings'], ['motion', 'Motion at the door'], ['request', 'A request waits for my decision'], ['upload', 'An upload I approved ends']];
    const box = (name: string, label: string, checked: boolean) => {
      const input = h('input', { type: 'checkbox', name, id: `push-${name}`, checked });
      return h('label', { class: 'row', for: input.id }, input, label);
    };
    const status = h('div', { role: 'status', 'aria-live': 'polite' });
    form.onsubmit = (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const wanted: PushChoice = { kinds: kinds.map(([k]) => k).filter((k) => data.has(k)), details: data.has('details') };
      this.app
        .setPushChoice(wanted)
        .then(() => replaceChildren(status, h('p', { class: 'callout callout--ok' }, wanted.kinds.length ? 'The doorbell will notify this phone.' : 'Notifications are off.')))
        .catch((err: Error) => replaceChildren(status, h('p', { class: 'callout callout--error', role: 'alert' }, err.message)));
    };
    replaceChildren(
      form,
      h('h2', { id: 'notifications-heading' }, 'Notifications'),
      pushSupported() ? null : h('p', { class: 'callout callout--info' }, 'This browser shows notifications from a closed app only over HTTPS, once the app is installed.'),
      kinds.map(([k, label]) => box(k, label, choice?.kinds.includes(k) ?? false)),
      box('details', 'Name the requester and reason in a request’s notification', choice?.details ?? false),
      h('p', { class: 'help' }, 'Notifications never carry a picture. The push service only relays them encrypted for this phone.'),
      h('button', { type: 'submit', class: 'button' }, 'Save notifications'),
      status,
    );
  }

  update(change: Change): void {
    if (change === 'pairing' || change === 'settings') {
      this.draw();
      void this.drawNotifications();
    }
  }

  private draw(): void {
    const m = this.app.model;
    const s = m.settings;
    this.inputs.clear();
    const fields = FIELDS.map((f) => {
      const input = h('input', {
        id: `setting-${f.key}`,
        name: f.key,
        type: f.type ?? 'text',
        value: s[f.key] ?? '',
        autocomplete: f.autocomplete ?? 'off',
        autocapitalize: 'off',
        spellcheck: 'false',
      });
      this.inputs.set(f.key, input);
      return [h('label', { for: input.id }, f.label), input, f.help ? h('p', { class: 'help' }, f.help) : null];
    });
    replaceChildren(
      this.element,
      m.settingsProblem ? h('p', { class: 'callout callout--error', role: 'alert' }, `The connection settings need fixing: ${m.settingsProblem}.`) : null,
      this.keyCard(),
      this.notificationsCard,
      h(
        'form',
        { class: 'card stack', novalidate: true, 'aria-labelledby': 'connection-heading', onsubmit: (e) => this.onSave(e) },
        h('h2', { id: 'connection-heading' }, 'Connection'),
        fields.flat(),
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'button button--primary' }, 'Save and reconnect'),
          h('button', { type: 'button', class: 'button', onclick: () => void this.run(() => this.app.resetSettings(), 'Back to the doorbell’s own settings.') }, 'Reset'),
        ),
        this.message,
      ),
    );
  }

  private keyCard(): HTMLElement {
    const pairing = this.app.model.pairing;
    if (!pairing) return h('div', { class: 'card' }, h('h2', {}, 'This phone'), h('p', {}, 'Not paired with ', this.app.model.deviceName, ' yet.'));
    return h(
      'div',
      { class: 'card stack' },
      h('h2', {}, 'This phone'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Name'), h('dd', {}, pairing.name),
        h('dt', {}, 'Key fingerprint'), h('dd', { class: 'fingerprint', 'data-key-id': pairing.keyId }, fingerprint(pairing.keyId)),
        h('dt', {}, 'Keys kept by'), h('dd', {}, this.app.keyKind === 'webcrypto' ? 'the browser (WebCrypto, not exportable)' : 'this browser’s storage (software keys)'),
        h('dt', {}, 'Doorbell fingerprint'), h('dd', { class: 'fingerprint', 'data-device-key-id': pairing.deviceKeyId }, fingerprint(pairing.deviceKeyId)),
        h('dt', {}, 'Paired'), h('dd', {}, formatDateTime(pairing.pairedAt)),
      ),
      h('p', { class: 'help' }, 'Forgetting removes the key from this phone only. Also run ', h('code', {}, `doorbell owner revoke ${pairing.keyId}`), ' on the doorbell.'),
      h('button', { type: 'button', class: 'button button--danger', onclick: () => void this.run(() => this.app.forgetDoorbell(), 'This phone forgot the doorbell.') }, 'Forget this doorbell'),
    );
  }

  private onSave(event: Event): void {
    event.preventDefault();
    const overrides: SettingsOverrides = {};
    for (const [key, input] of this.inputs) {
      const value = input.value.trim();
      if (value) overrides[key] = value;
    }
    void this.run(() => this.app.saveSettings(overrides), 'Saved. Reconnecting…');
  }

  private async run(action: () => Promise<void>, done: string): Promise<void> {
    try {
      await action();
      replaceChildren(this.message, h('p', { class: 'callout callout--ok' }, done));
    } catch (err) {
      replaceChildren(this.message, h('p', { class: 'callout callout--error', role: 'alert' }, (err as Error).message));
    }
  }
}
