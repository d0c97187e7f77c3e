/**
 * The whole story through the real agent (real ffmpeg camera, SQLite, embedded broker, its own web
 * server) and the phone app in Chromium: three rings, pairing with the code the agent shows, a
 * requester's request, approval of two of three clips signed in the browser, the bundle arriving at
 * a local receiver and verifying, a denied request sending nothing, and a reload that stays paired.
 * The steps run in order, like one owner's evening. `UPDATE_SCREENSHOTS=1` refreshes the README's
 * screenshots (docs/screenshots/inbox.png and approve.png) from this run.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config.js';
import { silentLogger } from '../../agent/log.js';
import { Agent } from '../../agent/main.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { verifyBundle } from '../../agent/requests/bundle.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { TestAgent } from '../helpers/agent.js';
import { freePort } from '../helpers/ports.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { buildPhoneApp, launchPhoneBrowser, PhoneApp } from './app-driver.js';

const DEVICE = 'testdoor';
/** The requesters' upload host: the agent's DNS lookup sends it to the local receiver. */
const EVIDENCE_HOST = 'evidence.example';
/** The agent serves the built app from dist/web (webAssetsDir): build it from these sources first. */
const DIST_WEB = fileURLToPath(new URL('../../dist/web/', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/agent/cli.js', import.meta.url));
const run = promisify(execFile);
const DOCS_SCREENSHOTS = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

let dir: string;
let t: TestAgent;
let webUrl: string;
let receiver: EvidenceReceiver;
let requester: MqttClient;
let browser: Browser;
let phone: PhoneApp;
let keyId: string;
let clips: ClipRecord[];
let police: Record<string, unknown> & { id: string };
let neighbour: Record<string, unknown> & { id: string };

function saveForDocs(artifact: string, name: string): void {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
  copyFileSync(artifact, join(DOCS_SCREENSHOTS, name));
}

/** Like startTestAgent, with the web server on: the 'web-ready' event, emitted during start(), says where it listens. */
async function startAgentWithWeb(): Promise<{ agent: TestAgent; url: string }> {
  const embedded = { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() };
  const config = parseConfig(
    {
      device: { id: DEVICE, name: 'Front door' },
      runtime: { dir: join(dir, 'run') },
      storage: { dir: join(dir, 'data') },
      camera: { synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: 1, postRollSeconds: 1 },
      mqtt: { embedded },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
      web: { enabled: true, listen: '127.0.0.1:0' },
    },
    'agent-e2e',
    {},
  );
  const agent = new Agent(config, { log: silentLogger, env: {}, lookup: async () => [{ address: '127.0.0.1', family: 4 }] });
  const ready = new Promise<string>((resolve) => agent.once('web-ready', ({ url }) => resolve(url)));
  await agent.start();
  return { agent: new TestAgent(agent, config, dir, `mqtt://127.0.0.1:${embedded.port}`), url: await ready };
}

/** The receiver's address under the requesters' host name. */
function uploadUrl(path: string): string {
  return receiver.url(path).replace('127.0.0.1', EVIDENCE_HOST);
}

async function publishRequest(request: Record<string, unknown>): Promise<void> {
  await requester.publishAsync(topicsFor('doorbell', DEVICE).request, signedRequest(request), { qos: 1 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agent-e2e-'));
  buildPhoneApp(DIST_WEB);
  ({ agent: t, url: webUrl } = await startAgentWithWeb());
  receiver = await startEvidenceReceiver({ dir: join(dir, 'received') });
  requester = await connectAsync(t.brokerUrl, { clientId: 'requester-spd' });
  browser = await launchPhoneBrowser();
});

afterAll(async () => {
  await phone?.close();
  await browser?.close();
  await requester?.endAsync(true);
  await receiver?.stop();
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the phone app with the real agent', () => {
  it('records three rings and serves the app at the address it announces', async () => {
    clips = [];
    await t.preRollRecorded();
    for (let i = 0; i < 3; i++) clips.push(await t.ring());
    expect(clips.map((c) => c.kind)).toEqual(['ring', 'ring', 'ring']);
    expect(webUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    phone = await PhoneApp.open(browser, webUrl);
  });

  it('pairs with the code `doorbell pair` shows, and shows the doorbell fingerprint `doorbell owner list` prints', async () => {
    const cliConfig = t.writeCliConfig(join(dir, 'cli.yaml'));
    const pair = await run(process.execPath, [CLI, 'pair', '--config', cliConfig]);
    const code = /pairing code (\d{5} \d{5})/.exec(pair.stdout)![1]!.replace(' ', '');
    expect(await phone.page.content()).not.toContain(code);
    keyId = await phone.pair(`${code.slice(0, 5)} ${code.slice(5)}`, 'Alice’s phone');
    const enrolled = t.audit().filter((e) => e.type === 'enrollment');
    expect(enrolled).toMatchObject([{ keyId, name: 'Alice’s phone', via: 'pairing' }]);
    const shown = await phone.deviceFingerprint();
    expect(shown).toMatch(/^[0-9a-f]{16}$/);
    const list = await run(process.execPath, [CLI, 'owner', 'list', '--config', cliConfig]);
    expect(list.stdout).toContain(shown.replace(/(.{4})(?=.)/g, '$1 '));
    await phone.openTab('Settings');
    expect((await phone.page.locator('.facts .fingerprint[data-device-key-id]').textContent())?.replace(/\s/g, '')).toBe(shown);
    await phone.openTab('Inbox');
  });

  it('shows a requester’s request with the agent’s own thumbnails', async () => {
    police = makeRequest({ uploadUrl: uploadUrl('/put/police') }) as typeof police;
    await publishRequest(police);
    neighbour = makeRequest({
      uploadUrl: uploadUrl('/put/neighbour'),
      requester: { name: 'Maple St neighbourhood watch', kind: 'neighbor' },
      reason: 'Someone tried car doors last night',
    }) as typeof neighbour;
    await publishRequest(neighbour);
    await phone.openInbox();
    const card = phone.noticeCard(police.id);
    await card.waitFor({ timeout: 15_000 });
    await phone.noticeCard(neighbour.id).waitFor({ timeout: 15_000 });
    const text = await card.textContent();
    for (const expected of ['Police', 'Springfield PD', 'Case 24-118', 'Package theft on Elm St', '3 clips', EVIDENCE_HOST]) expect(text).toContain(expected);
    await expect.poll(() => card.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth))).toEqual([320, 320, 320]);
    saveForDocs(await phone.screenshot('agent-inbox'), 'inbox.png');
  });

  it('plays each clip before deciding (it plays and seeks), and the same URL gives a LAN client nothing', async () => {
    await phone.openRequest(police.id);
    const clipId = clips[0]!.id;
    await phone.page.locator(`[data-watch="${clipId}"]`).click();
    await phone.page.locator(`video[data-clip-video="${clipId}"]`).waitFor({ timeout: 20_000 });
    const watched = (await phone.page.evaluate(`(async () => {
      const v = document.querySelector('video[data-clip-video="${clipId}"]');
      v.muted = true;
      if (v.readyState < 1) await new Promise((r) => v.addEventListener('loadedmetadata', r, { once: true }));
      await v.play();
      const started = v.currentTime;
      await new Promise((r) => setTimeout(r, 700));
      v.pause();
      const played = v.currentTime - started;
      const target = v.duration / 2;
      await new Promise((r) => { v.addEventListener('seeked', r, { once: true }); v.currentTime = target; });
      return { played, duration: v.duration, target, at: v.currentTime, src: v.src.slice(0, 5) };
    })()`)) as { played: number; duration: number; target: number; at: number; src: string };
    expect(watched.src).toBe('blob:');
    expect(watched.duration).toBeGreaterThan(1);
    expect(watched.played).toBeGreaterThan(0);
    expect(Math.abs(watched.at - watched.target)).toBeLessThan(0.25);
    // The address the app used, asked without the owner's token (a neighbour on the LAN) or with a forged one.
    const bare = await fetch(`${webUrl}/clips/${clipId}`);
    expect([bare.status, await bare.text()]).toEqual([401, 'unauthorized\n']);
    const forged = await fetch(`${webUrl}/clips/${clipId}`, { headers: { Authorization: `DoorbellOwner ${keyId}.${Math.floor(Date.now() / 1000) + 60}.${'A'.repeat(86)}` } });
    expect([forged.status, await forged.text()]).toEqual([403, 'forbidden\n']);

    await phone.openTab('Doorbell');
    // The three rings happened before this phone existed: the doorbell's own sealed history lists them, with thumbnails.
    await expect.poll(() => phone.page.locator('.events li[data-event-type="ring"] img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth)), { timeout: 15_000 }).toEqual([320, 320, 320]);
    await phone.page.locator('[data-role="fetch-snapshot"]').click();
    await expect.poll(() => phone.page.locator('img[data-snapshot="on-demand"]').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), { timeout: 15_000 }).toBe(320);
    await phone.openInbox();
  });

  it('approves two of three clips: the receiver gets exactly one bundle that verifies, with exactly those two', async () => {
    const [first, second, third] = clips;
    await phone.openRequest(police.id);
    await phone.selectClips(police.id, [first!.id, third!.id]);
    expect(await phone.page.locator('[data-action="approve"]').textContent()).toBe('Approve 2 clips');
    await phone.page.evaluate('window.scrollTo(0, 0)');
    saveForDocs(await phone.screenshot('agent-approve'), 'approve.png');

    await phone.page.locator('[data-action="approve"]').click();
    await phone.page.locator('[data-sent="approve"]').waitFor({ timeout: 10_000 });
    await phone.waitForRequestState(police.id, 'uploaded', 60_000);
    await phone.screenshot('agent-uploaded');

    expect(receiver.requests).toHaveLength(1);
    const [upload] = receiver.requests;
    expect(upload).toMatchObject({ method: 'PUT', path: '/put/police', status: 200 });
    expect(upload!.verification).toMatchObject({ ok: true, problems: [] });
    const manifest = upload!.verification!.manifest!;
    expect(manifest.requestId).toBe(police.id);
    expect(manifest.clips.map((c) => c.id).sort()).toEqual([first!.id, third!.id].sort());
    expect(manifest.clips.map((c) => c.id)).not.toContain(second!.id);
    expect(manifest.approval.keyId).toBe(keyId);
    // The approval inside was signed in the browser by the key the agent enrolled at pairing.
    const [enrollment] = t.audit().filter((e) => e.type === 'enrollment');
    expect(verifyBundle(readFileSync(upload!.savedAs!), { ownerPublicKey: String(enrollment!.publicKey) })).toMatchObject({ ok: true, problems: [] });
  });

  it('denies the other request: it closes, and the receiver gets nothing more', async () => {
    await phone.deny(neighbour.id);
    await phone.waitForRequestState(neighbour.id, 'denied');
    expect(t.audit().filter((e) => e.type === 'decision' && e.requestId === neighbour.id)).toMatchObject([{ decision: 'deny', keyId }]);
    expect(receiver.requests).toHaveLength(1);
    await phone.openInbox();
    await expect.poll(() => phone.page.locator('a.notice').count()).toBe(0);
  });

  it('after a reload is still paired with the same key', async () => {
    await phone.reload();
    expect(await phone.pairedKeyId()).toBe(keyId);
    await phone.openTab('History');
    await expect.poll(() => phone.page.locator('a.history-item').count()).toBe(2);
    expect(await phone.page.locator(`a.history-item[data-request-id="${police.id}"] [data-state]`).getAttribute('data-state')).toBe('uploaded');
    expect(await phone.page.locator(`a.history-item[data-request-id="${neighbour.id}"] [data-state]`).getAttribute('data-state')).toBe('denied');
    expect(receiver.requests).toHaveLength(1);
    expect(phone.problems).toEqual([]);
  });
  it('turns on notifications in Settings: the doorbell stores the sealed, owner-signed subscription', async () => {
    // The browser's push service is the hardware edge here (no network): a subscription it would have made.
    await phone.context.addInitScript(`(() => {
      let sub = null;
      const keys = { p256dh: 'B' + 'A'.repeat(86), auth: 'A'.repeat(22) };
      const make = () => ({ endpoint: 'https://push.example/send/phone-1', toJSON() { return { endpoint: this.endpoint, keys }; }, unsubscribe: async () => { sub = null; return true; } });
      PushManager.prototype.subscribe = async function () { sub = make(); return sub; };
      PushManager.prototype.getSubscription = async function () { return sub; };
    })();`);
    await phone.context.grantPermissions(['notifications'], { origin: new URL(webUrl).origin });
    await phone.reload();
    await phone.openTab('Settings');
    const form = phone.page.locator('[data-role="notifications"]');
    await form.locator('#push-ring').check();
    await form.locator('#push-request').check();
    await form.getByRole('button', { name: 'Save notifications' }).click();
    await form.getByText('The doorbell will notify this phone.').waitFor({ timeout: 15_000 });
    await expect.poll(() => t.audit().filter((e) => e.type === 'push-subscription'), { timeout: 15_000 }).toMatchObject([
      { keyId, service: 'https://push.example', kinds: ['ring', 'request'], details: false },
    ]);
    expect(phone.problems).toEqual([]);
  });
});
