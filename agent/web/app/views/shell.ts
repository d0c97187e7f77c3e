/** The frame around every screen: app bar with connection state, the screen, and the tab bar. */
import type { App } from '../app.js';
import { formatCountdown } from '../format.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import { DoorbellScreen } from './doorbell-view.js';
import { HistoryScreen } from './history-view.js';
import { InboxScreen } from './inbox-view.js';
import { PairScreen } from './pair-view.js';
import { ReportScreen } from './report-view.js';
import { RequestScreen } from './request-view.js';
import { SettingsScreen } from './settings-view.js';
import type { View } from './view.js';

const CONNECTION_TEXT = { connected: 'Connected', connecting: 'Connecting…', offline: 'Offline' } as const;

export const INSECURE_PAGE_WARNING = 'Not served over HTTPS: someone on your network could tamper with this page. Set web.tls (see the README).';

/** On every screen of a page served over plain http (not localhost): the app works, but the owner should know why it should not. */
function insecurePageWarning(): HTMLElement | null {
  if (window.isSecureContext) return null;
  return h('p', { class: 'insecure-banner', role: 'alert', 'data-insecure': 'true' }, INSECURE_PAGE_WARNING);
}

export class Shell {
  private readonly title = h('h1', { class: 'appbar__title' });
  private readonly backLink = h('a', { class: 'appbar__back' }, '‹');
  private readonly connection = h('p', { class: 'conn', role: 'status', 'aria-live': 'polite' });
  private readonly main = h('main', { id: 'main', tabindex: '-1' });
  /** Red, on every screen, while the doorbell's history fails to check: it must not be missed. */
  private readonly auditAlarm = h('p', { class: 'audit-alarm', role: 'alert', 'data-audit-alarm': 'true' });
  private readonly tabs = h('nav', { class: 'tabs', 'aria-label': 'Sections' });
  private view: View | undefined;
  private route = '';
  private root: HTMLElement | undefined;

  constructor(private readonly app: App) {}

  mount(root: HTMLElement): void {
    this.root = root;
    replaceChildren(root, h('header', { class: 'appbar' }, this.backLink, this.title, this.connection), insecurePageWarning(), this.auditAlarm, this.main, this.tabs);
    this.drawAuditAlarm();
    this.app.model.on((change) => this.update(change));
    window.addEventListener('hashchange', () => this.navigate());
    // One clock for every countdown on screen.
    setInterval(() => {
      for (const el of document.querySelectorAll<HTMLElement>('[data-countdown]')) el.textContent = formatCountdown(el.dataset.countdown!);
    }, 1000);
    this.navigate();
    this.drawConnection();
  }

  private update(change: Change): void {
    if (change === 'connection' || change === 'inbox') this.drawConnection();
    if (change === 'doorbell') this.drawAuditAlarm();
    if (change === 'pairing' || change === 'settings') {
      // New settings mean a new doorbell: rebuild the screen, except the settings form the owner is using.
      this.navigate(change === 'settings' && !(this.view instanceof SettingsScreen));
      return;
    }
    if (change === 'inbox') this.drawTabs();
    this.view?.update(change);
    this.drawBack();
  }

  /** Shows the screen the location names; an unpaired phone is sent to pairing unless it asked for settings. */
  private navigate(force = false): void {
    const m = this.app.model;
    const paired = m.pairing !== undefined;
    let route = location.hash.replace(/^#\/?/, '');
    if (m.settingsProblem) route = 'settings';
    else if (!paired && route !== 'settings') route = 'pair';
    // The pairing screen stays after a pairing it just completed, to show the key's fingerprint.
    else if (paired && (route === '' || (route === 'pair' && !(this.view instanceof PairScreen)))) route = 'inbox';
    if (location.hash !== `#/${route}`) history.replaceState(null, '', `#/${route}`);
    if (route === this.route && !force && this.view) {
      this.view.update('pairing');
      this.drawTabs();
      return;
    }
    this.route = route;
    this.view?.dispose?.();
    this.view = this.screenFor(route);
    replaceChildren(this.main, this.view.element);
    this.title.textContent = this.view.title;
    document.title = `${this.view.title} · Doorbell`;
    this.drawTabs();
    this.drawBack();
    this.main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  private screenFor(route: string): View {
    const [name, arg] = route.split('/', 2);
    switch (name) {
      case 'pair':
        return new PairScreen(this.app);
      case 'request':
        return new RequestScreen(this.app, decodeURIComponent(arg ?? ''));
      case 'history':
        return new HistoryScreen(this.app);
      case 'doorbell':
        return new DoorbellScreen(this.app);
      case 'report':
        return new ReportScreen(this.app);
      case 'settings':
        return new SettingsScreen(this.app);
      default:
        return new InboxScreen(this.app);
    }
  }

  private drawAuditAlarm(): void {
    const verdict = this.app.model.doorbell.checkpointVerdict;
    this.auditAlarm.hidden = verdict?.state !== 'broken';
    this.auditAlarm.textContent =
      verdict?.state === 'broken' ? `Warning: this doorbell's audit log cannot be trusted. ${verdict.reason.charAt(0).toUpperCase()}${verdict.reason.slice(1)}.` : '';
  }

  private drawBack(): void {
    const back = this.view?.back;
    this.backLink.hidden = !back;
    this.tabs.hidden = Boolean(back);
    this.root?.classList.toggle('app--subscreen', Boolean(back));
    if (back) {
      this.backLink.href = back.href;
      this.backLink.setAttribute('aria-label', back.label);
    }
  }

  private drawConnection(): void {
    const { state, detail } = this.app.model.connection;
    this.connection.className = `conn conn--${state}`;
    // The inbox is the doorbell's answer, not a guess, once it answered this page's ask.
    this.connection.toggleAttribute('data-synced', this.app.model.synced);
    this.connection.title = detail;
    replaceChildren(this.connection, h('span', { class: 'conn__dot', 'aria-hidden': 'true' }), CONNECTION_TEXT[state]);
  }

  private drawTabs(): void {
    const paired = this.app.model.pairing !== undefined;
    const pending = this.app.model.notices.size;
    const current = this.route.split('/')[0] === 'request' ? 'inbox' : this.route.split('/')[0];
    const tab = (route: string, label: string, badge?: number) =>
      h(
        'a',
        { href: `#/${route}`, class: 'tabs__tab', ...(current === route ? { 'aria-current': 'page' } : {}) },
        label,
        badge ? h('span', { class: 'badge', 'aria-label': `${badge} waiting` }, String(badge)) : null,
      );
    replaceChildren(
      this.tabs,
      paired
        ? [tab('inbox', 'Inbox', pending), tab('history', 'History'), tab('doorbell', 'Doorbell'), tab('settings', 'Settings')]
        : [tab('pair', 'Pair'), tab('settings', 'Settings')],
    );
  }
}
