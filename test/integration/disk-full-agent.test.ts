/**
 * The agent (a child process, as systemd runs it) with its store on a small filesystem that fills to
 * the last byte while it runs (a tmpfs; root only). Its timer paths (request expiry, outbox retry,
 * state and checkpoint publishing, requests kept for later) must log and retry, never throw or stop
 * for good: while the disk is full it stays up, a ring still reaches MQTT and the owner, the owner's
 * ask is answered and the state says the disk refuses writes; once there is room everything catches up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../agent/audit/index.js';
import { databasePath } from '../../agent/main.js';
import { openDatabase } from '../../agent/store/database.js';
import { fillDisk, freeDisk, mountSmallDisk, unmountSmallDisk } from '../../scripts/chaos/small-disk.js';
import { ChildAgent } from '../helpers/child-agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder, type Received } from '../helpers/mqtt.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { storedClipIds } from '../helpers/requests.js';
import { sleep, waitFor } from '../helpers/wait.js';

const TOPIC = 'doorbell/childdoor';
const dir = mkdtempSync(join(tmpdir(), 'disk-full-agent-'));
const broker = new TestMosquitto();
const child = new ChildAgent();
let mounted = false;
let watcher: Recorder | undefined;
let owner: TestOwner | undefined;

// Everything stops and the disk is unmounted also when the test fails or times out.
afterAll(async () => {
  await owner?.close().catch(() => undefined);
  await watcher?.close().catch(() => undefined);
  await child.dispose();
  await broker.dispose();
  if (mounted) unmountSmallDisk(dir);
  rmSync(dir, { recursive: true, force: true });
});

const until = (what: string, check: () => boolean, timeoutMs = 20_000): Promise<unknown> => waitFor(what, () => check() || undefined, timeoutMs);

/** A live (not retained) message on `topic` that arrived after the watcher had `mark` messages. */
function live(topic: string, mark: number, match: (body: Record<string, unknown>) => boolean = () => true): (m: Received) => boolean {
  return (m) =>
    m.topic === `${TOPIC}/${topic}` && !m.retain && watcher!.messages.indexOf(m) >= mark && match(JSON.parse(m.payload.toString()) as Record<string, unknown>);
}

/** The broker restarts: the agent reconnects and publishes its checkpoint and state again. Returns the watcher's mark. */
async function restartBroker(): Promise<number> {
  await broker.stop();
  const mark = watcher!.messages.length;
  await broker.start();
  await owner!.reconnect(broker.url);
  return mark;
}

async function status(): Promise<{ outbox: { pending: number; unstored: number } }> {
  return (await child.control('status')) as { outbox: { pending: number; unstored: number } };
}

/** A request for the last 10 minutes, published as its requester would; resolves to its id and expiry. */
async function sendRequest(expiresInMs: number): Promise<{ id: string; expiresAt: number }> {
  const expiresAt = Date.now() + expiresInMs;
  const r = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put/x', expiresAt: new Date(expiresAt).toISOString() });
  await watcher!.client.publishAsync(`${TOPIC}/request`, signedRequest(r), { qos: 1 });
  return { id: String(r.id), expiresAt };
}

describe('the agent on a disk that fills up', () => {
  it('keeps telling MQTT and the owner while it is full, and catches up once there is room', async () => {
    const skipped = mountSmallDisk(dir, 24);
    if (skipped) return void process.stdout.write(`skipped: ${skipped}\n`);
    mounted = true;
    await broker.start();
    await child.configure({
      storage: { dir: join(dir, 'data'), maxBytes: 1024 ** 3 },
      mqtt: { url: broker.url },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
    });
    await child.start();
    watcher = await Recorder.connect(broker.url, [`${TOPIC}/event`, `${TOPIC}/state`, `${TOPIC}/transparency`], {
      clean: false,
      clientId: `watcher-${process.pid}`,
    });
    owner = await TestOwner.create(child);
    await child.control('sim', { what: 'ring' });
    await until('a clip before the disk fills', () => storedClipIds(child).length > 0, 30_000);
    // Pending, holding that clip, and due to expire while the disk is full.
    const expiring = await sendRequest(25_000);
    await owner.notice(expiring.id);

    const filler = join(dir, 'filler');
    fillDisk(filler);
    const fullAt = Date.now();
    const full = watcher.messages.length;
    await child.control('sim', { what: 'ring' });
    await watcher.waitFor(live('event', full), 15_000, 'the plaintext ring event on a full disk');
    await owner.message((m) => m.kind === 'event' && Date.parse(String(m.body.at)) >= fullAt, 'the sealed ring event on a full disk');
    await watcher.waitFor(live('state', full, (s) => (s.storage as { writable?: boolean }).writable === false), 15_000, 'a state saying the disk refuses writes');
    const kept = await sendRequest(3600_000);
    const restarted = await restartBroker();
    await watcher.waitFor(live('transparency', restarted), 20_000, 'a checkpoint published on a full disk');
    await sleep(1100); // the device answers an owner at most once a second; reconnecting asked already
    expect(await owner.session.ask()).toContain(expiring.id);
    // The expiry timer fires and fails (it cannot write): the agent logs it and stays up.
    await until('the expiry to be due', () => Date.now() > expiring.expiresAt + 2000, 40_000);
    await until('the failed expiry to be logged', () => child.output.includes('expiring requests failed'));
    expect(await status()).toMatchObject({ outbox: expect.any(Object) }); // alive, answering

    freeDisk(filler);
    const freed = watcher.messages.length;
    // The expiry is retried, the kept request is recorded and noticed, a ring records again.
    expect((await owner.status(expiring.id, (s) => s.state === 'expired', 40_000)).state).toBe('expired');
    await owner.notice(kept.id, 45_000);
    const clips = storedClipIds(child).length;
    await child.control('sim', { what: 'ring' });
    await until('a clip once there is room', () => storedClipIds(child).length > clips, 30_000);
    await watcher.waitFor(live('state', freed, (s) => (s.storage as { writable?: boolean }).writable === true), 20_000, 'a state saying the disk takes writes');
    const deadline = Date.now() + 20_000;
    while ((await status()).outbox.pending > 0 || (await status()).outbox.unstored > 0) {
      if (Date.now() > deadline) throw new Error(`the outbox never emptied: ${JSON.stringify(await status())}`);
      await sleep(200);
    }
    const again = await restartBroker();
    await watcher.waitFor(live('transparency', again), 20_000, 'a checkpoint once there is room');

    expect(await child.kill('SIGTERM')).toBe(0);
    const db = openDatabase(databasePath(child.config), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(verifyAuditChain(db).ok).toBe(true);
    } finally {
      db.close();
    }
  }, 240_000);
});
