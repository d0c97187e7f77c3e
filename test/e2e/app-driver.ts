/**
 * Drives the owner's phone app in Debian's Chromium, the way a person would: typing, ticking,
 * tapping. Shared by the phone-app tests and the full end-to-end test through the real agent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const PHONE_VIEWPORT = { width: 390, height: 844 };
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** Builds the app into `outDir` (not dist/web, which other runs may be serving) and returns it. */
export function buildPhoneApp(outDir: string): string {
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-web.mjs', import.meta.url)), '--out', outDir], { stdio: 'pipe' });
  return outDir;
}

/** Fails (never skips) without Chromium: CI installs Debian's package. `extraArgs` are more Chromium switches. */
export async function launchPhoneBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install chromium) to run the phone app tests`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

export interface PhoneOptions {
  /** Script run in the page before the app, e.g. to take WebCrypto Ed25519 away. */
  initScript?: string;
}

/** One phone: its own browser context (storage), a page on the app, and every error the page reported. */
export class PhoneApp {
  /** Uncaught exceptions and console errors (CSP violations among them), for tests to assert empty. */
  readonly problems: string[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly appUrl: string,
  ) {
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`console: ${msg.text()}`);
    });
  }

  /** Opens `appUrl` (the agent's web address, optionally with a `#ws=…&device=…` pairing link). */
  static async open(browser: Browser, appUrl: string, opts: PhoneOptions = {}): Promise<PhoneApp> {
    const context = await browser.newContext({ viewport: PHONE_VIEWPORT, deviceScaleFactor: 1, isMobile: true, hasTouch: true, locale: 'en-US' });
    if (opts.initScript) await context.addInitScript(opts.initScript);
    const phone = new PhoneApp(context, await context.newPage(), appUrl);
    await phone.page.goto(appUrl);
    await phone.waitConnected();
    return phone;
  }

  async waitConnected(timeoutMs = 15_000): Promise<void> {
    await this.page.locator('.conn--connected').waitFor({ timeout: timeoutMs });
  }

  /** Pairs with the code the doorbell showed; resolves with the keyId the doorbell confirmed. */
  async pair(code: string, name = 'Test phone'): Promise<string> {
    await this.submitPairing(code, name);
    const paired = this.page.locator('[data-paired]');
    await paired.waitFor({ timeout: 30_000 });
    return (await paired.getAttribute('data-paired'))!;
  }

  /** The doorbell fingerprint the app shows after pairing (spaces removed: the device keyId). */
  async deviceFingerprint(): Promise<string> {
    return ((await this.page.locator('.fingerprint[data-device-key-id]').first().textContent()) ?? '').replace(/\s/g, '');
  }

  /** Sends a code the doorbell will not accept and waits for the app to say so (as soon as the doorbell answers). */
  async pairExpectingRefusal(code: string, name = 'Test phone'): Promise<void> {
    await this.submitPairing(code, name);
    await this.page.locator('[data-pairing="refused"]').waitFor({ timeout: 30_000 });
  }

  /** The inbox card of a pending request. */
  noticeCard(requestId: string) {
    return this.page.locator(`a.notice[data-request-id="${requestId}"]`);
  }

  /** Taps a tab (Inbox, History, Doorbell, Settings, Pair); a request screen hides the tabs, so its back link first. */
  async openTab(name: string): Promise<void> {
    const back = this.page.locator('.appbar__back');
    if (await back.isVisible()) {
      await back.click();
      await this.page.locator('nav.tabs').waitFor();
    }
    await this.page.locator('nav.tabs a', { hasText: name }).click();
  }

  async openInbox(): Promise<void> {
    await this.openTab('Inbox');
    await this.page.locator('section[aria-label="Requests waiting for you"]').waitFor();
  }

  /** From the inbox, taps the request's card. */
  async openRequest(requestId: string): Promise<void> {
    await this.openInbox();
    await this.noticeCard(requestId).click();
    await this.page.locator(`section[data-request-id="${requestId}"] label.clip`).first().waitFor();
  }

  /** Ticks exactly `clipIds` (all clips start ticked). */
  async selectClips(requestId: string, clipIds: string[]): Promise<void> {
    const labels = this.page.locator(`section[data-request-id="${requestId}"] label.clip`);
    for (let i = 0; i < (await labels.count()); i++) {
      const label = labels.nth(i);
      const id = await label.getAttribute('data-clip-id');
      await label.locator('input[type="checkbox"]').setChecked(clipIds.includes(id!));
    }
  }

  /** Opens the request, selects `clipIds`, taps Approve, and waits until the signed decision was sent. */
  async approve(requestId: string, clipIds: string[]): Promise<void> {
    await this.openRequest(requestId);
    await this.selectClips(requestId, clipIds);
    await this.page.locator('[data-action="approve"]').click();
    await this.page.locator('[data-sent="approve"]').waitFor({ timeout: 10_000 });
  }

  async deny(requestId: string): Promise<void> {
    await this.openRequest(requestId);
    await this.page.locator('[data-action="deny"]').click();
    await this.page.locator('[data-sent="deny"]').waitFor({ timeout: 10_000 });
  }

  /** Waits until the open request screen shows the device's status `state` (e.g. uploaded, denied). */
  async waitForRequestState(requestId: string, state: string, timeoutMs = 30_000): Promise<void> {
    await this.page.locator(`section[data-request-id="${requestId}"] .status[data-state="${state}"]`).waitFor({ timeout: timeoutMs });
  }

  /** The keyId this phone is paired with, from the Settings screen; undefined when not paired. */
  async pairedKeyId(): Promise<string | undefined> {
    await this.openTab('Settings');
    await this.page.locator('section[aria-label="Settings"]').waitFor();
    const key = this.page.locator('dd[data-key-id]');
    if ((await key.count()) === 0) return undefined;
    return (await key.getAttribute('data-key-id')) ?? undefined;
  }

  /** Reloads a paired phone and waits until the doorbell answered its ask: the inbox is the doorbell's again. */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.waitSynced();
  }

  async waitSynced(timeoutMs = 15_000): Promise<void> {
    await this.page.locator('.conn--connected[data-synced]').waitFor({ timeout: timeoutMs });
  }

  /** Saves a screenshot of the viewport as test-artifacts/NAME.png and returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const path = join(ARTIFACTS_DIR, `${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  async close(): Promise<void> {
    await this.context.close();
  }

  private async submitPairing(code: string, name: string): Promise<void> {
    await this.openTab('Pair');
    await this.page.getByLabel('Name for this phone').fill(name);
    await this.page.getByLabel('Pairing code').fill(code);
    await this.page.getByRole('button', { name: 'Pair', exact: true }).click();
  }
}
