/**
 * Issue 12: the phone app in Chromium keeps the newest audit checkpoint it verified, asks the doorbell
 * for a consistency proof for every newer one, and shows a red warning on every screen (kept across
 * reloads) when the doorbell's history was truncated, rolled back, rewritten or forked. The stand-in
 * doorbell signs with the agent's own AuditLog and answers proof asks with its own code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../agent/store/database.js';
import type { PhoneApp } from './app-driver.js';
import type { DeviceHarness } from './device-harness.js';
import { PhoneFixture } from './phone-fixture.js';

const fixture = new PhoneFixture({ name: 'phone-audit', pairAs: 'Alice’s phone' });
let device: DeviceHarness;
let phone: PhoneApp;

beforeAll(async () => {
  await fixture.start();
  ({ device, phone } = fixture);
}, 120_000);

afterAll(() => fixture.stop());

const alarm = () => phone.page.locator('[data-audit-alarm]');

/** A phone that has seen only the doorbell's current checkpoint: its audit memory wiped, then reloaded. */
async function freshPhoneMemory(): Promise<void> {
  await phone.page.evaluate(`new Promise((resolve, reject) => {
    const open = indexedDB.open('doorbell-owner');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const store = open.result.transaction('kv', 'readwrite').objectStore('kv');
      const keys = store.getAllKeys();
      keys.onsuccess = () => {
        for (const k of keys.result) if (/^(checkpoint|audit-alarm):/.test(String(k))) store.delete(k);
        store.transaction.oncomplete = () => resolve(undefined);
      };
    };
  })`);
  await phone.reload();
  await phone.openTab('Doorbell');
  await phone.page.locator('[data-head-verified="true"]').waitFor();
  expect(await alarm().isHidden()).toBe(true);
}

function insertRow(db: Db, seq: number, text: string): void {
  const entry = JSON.stringify({ seq, at: new Date().toISOString(), type: 'test-entry', forged: text });
  db.prepare('INSERT INTO audit_log (seq, at, entry, hash) VALUES (?, ?, ?, ?)').run(seq, Date.now(), entry, '0'.repeat(64));
}

const lastSeq = (db: Db) => db.prepare('SELECT MAX(seq) FROM audit_log').pluck().get() as number;

describe('the phone app guards the doorbell history', () => {
  it('accepts a longer log with a valid consistency proof', async () => {
    device.appendAudit(6);
    await freshPhoneMemory();
    const entries = phone.page.locator('dt:text-is("Entries") + dd');
    const before = Number(await entries.textContent());
    device.appendAudit(3);
    // Kept only after the doorbell's proof from the kept size verified.
    await expect.poll(() => entries.textContent().then(Number)).toBe(before + 3);
    expect(await phone.page.locator('[data-head-verified="true"]').count()).toBe(1);
    expect(await alarm().isHidden()).toBe(true);
  });

  it('warns in red when the log was truncated, on every screen and after a reload', async () => {
    await freshPhoneMemory();
    await device.tamperAudit((db) => db.prepare('DELETE FROM audit_log WHERE seq > ?').run(lastSeq(db) - 3));
    await alarm().waitFor();
    expect(await alarm().textContent()).toContain("this doorbell's audit log cannot be trusted");
    expect(await alarm().textContent()).toContain("The doorbell's log shrank");
    expect(await phone.page.locator('[data-head-verified="false"]').count()).toBe(1);
    await phone.openTab('Inbox');
    expect(await alarm().isVisible()).toBe(true);
    await phone.reload();
    await alarm().waitFor();
    await phone.screenshot('audit-alarm');
  });

  it('warns when an old copy was restored and then grew past what the phone saw', async () => {
    await freshPhoneMemory();
    await device.tamperAudit((db) => {
      const last = lastSeq(db);
      db.prepare('DELETE FROM audit_log WHERE seq > ?').run(last - 2);
      for (let seq = last - 1; seq <= last + 2; seq++) insertRow(db, seq, 'after the restore');
    });
    await alarm().waitFor();
    expect(await alarm().textContent()).toContain('cannot prove that its log');
  });

  it('warns when an entry was rewritten and the log grew', async () => {
    await freshPhoneMemory();
    await device.tamperAudit((db) => {
      db.prepare("UPDATE audit_log SET entry = replace(entry, '\"test-entry\"', '\"rewritten\"') WHERE seq = 2").run();
      insertRow(db, lastSeq(db) + 1, 'one more');
    });
    await alarm().waitFor();
    expect(await alarm().textContent()).toContain('cannot prove that its log');
  });

  it('warns when the doorbell signs a forked history of the same length', async () => {
    await freshPhoneMemory();
    await device.tamperAudit((db) => {
      const last = lastSeq(db);
      db.prepare('DELETE FROM audit_log WHERE seq = ?').run(last);
      insertRow(db, last, 'the other branch');
    });
    await alarm().waitFor();
    expect(await alarm().textContent()).toContain('signed two different histories');
  });

  it('shows the transparency report the doorbell sealed to this phone, with its chart and cited entries', async () => {
    let police = 0;
    await device.tamperAudit((db) => {
      police = lastSeq(db) + 1;
      const at = new Date().toISOString();
      const add = (seq: number, entry: Record<string, unknown>) =>
        db.prepare('INSERT INTO audit_log (seq, at, entry, hash) VALUES (?, ?, ?, ?)').run(seq, Date.now(), JSON.stringify({ seq, at, ...entry }), '0'.repeat(64));
      add(police, { type: 'request', requestId: 'r-1', requester: { name: 'Springfield PD', kind: 'police' }, state: 'pending' });
      add(police + 1, { type: 'decision', requestId: 'r-1', decision: 'deny' });
    });
    await phone.openTab('Doorbell');
    await phone.page.locator('a[href="#/report"]').click();
    const month = new Date().toISOString().slice(0, 7);
    await phone.page.locator(`[data-month="${month}"]`).waitFor();
    expect(await phone.page.locator('svg.report-chart rect.bar').count()).toBe(6);
    expect(await phone.page.locator('rect.bar--denied').getAttribute('data-count')).toBe('1');
    expect(await phone.page.locator('[data-figure="Requests received"]').textContent()).toBe('1');
    expect(await phone.page.locator('[data-figure="Denied"] + td').textContent()).toBe(`entries #${police + 1}`);
    expect(await phone.page.locator('.help').first().textContent()).toMatch(/audit log \(\d+ entries, root [0-9a-f]{16}…\)/);
    await phone.screenshot('transparency-report');
  });
});
