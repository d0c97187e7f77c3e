import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { BrokerAccess, EmbeddedBroker, MqttLink, Outbox, topicMatches } from '../../agent/mqtt/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { startEmbeddedBroker, type TestBroker } from '../helpers/broker.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';

type Login = { username?: string; password?: string };

const dirs: string[] = [];
function tempDb(): { db: Db; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  dirs.push(dir);
  const file = join(dir, 'doorbell.db');
  return { db: openDatabase(file), file };
}

function makeLink(db: Db, url: string, clientId: string, login: Login = {}): { link: MqttLink; outbox: Outbox } {
  const outbox = new Outbox({ db, log: silentLogger, now: Date.now });
  outbox.start();
  const link = new MqttLink({
    options: {
      url,
      ...login,
      clientId,
      keepaliveSeconds: 5,
      will: { topic: `t/${clientId}/state`, payload: Buffer.from('{"v":1,"online":false}') },
    },
    outbox,
    log: silentLogger,
  });
  return { link, outbox };
}

function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 50);
    };
    tick();
  });
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('topic filters', () => {
  it('match + and # like a broker does', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/d')).toBe(false);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    expect(topicMatches('a/+', 'a')).toBe(false);
  });
});

describe.each(['embedded', 'mosquitto'] as const)('MQTT link on the %s broker', (kind) => {
  let url = '';
  // The device's login on the embedded broker, whose access control is on; Mosquitto here has none.
  let login: Login = {};
  let embedded: TestBroker | null = null;
  let mosquitto: TestMosquitto | null = null;
  const open: { close(): Promise<void> | void }[] = [];

  beforeAll(async () => {
    if (kind === 'embedded') {
      embedded = await startEmbeddedBroker();
      url = embedded.url;
      login = embedded.device;
    } else {
      mosquitto = new TestMosquitto();
      await mosquitto.start();
      url = mosquitto.url;
    }
  });
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  afterAll(async () => {
    await embedded?.stop();
    await mosquitto?.dispose();
  });

  it('delivers reliable messages and retained state to subscribers', async () => {
    const sub = await Recorder.connect(url, ['t/dev1/#'], login);
    open.push(sub);
    const { db } = tempDb();
    const { link, outbox } = makeLink(db, url, 'dev1', login);
    open.push({ close: () => link.stop() }, { close: () => { db.close(); } });
    link.start();
    await link.publishLatest('t/dev1/state', '{"v":1,"online":true}', { retain: true }).catch(() => undefined);
    link.publishReliable('t/dev1/event', '{"v":1,"type":"ring"}');
    const event = await sub.waitFor((m) => m.topic === 't/dev1/event');
    expect(sub.json(event)).toEqual({ v: 1, type: 'ring' });
    await until(() => outbox.pending() === 0);
    await until(() => link.connected);
    await link.publishLatest('t/dev1/state', '{"v":1,"online":true}', { retain: true });
    // A subscriber that arrives later still sees the retained state.
    const late = await Recorder.connect(url, ['t/dev1/state'], login);
    open.push(late);
    const state = await late.waitFor((m) => m.topic === 't/dev1/state');
    expect(state.retain).toBe(true);
    expect(late.json(state).online).toBe(true);
  });

  it('refuses to publish to a wildcard topic', () => {
    const { db } = tempDb();
    const { link } = makeLink(db, url, 'dev-wild', login);
    open.push({ close: () => { db.close(); } });
    expect(() => link.publishReliable('t/+/event', 'x')).toThrow(/invalid topic/);
    expect(() => link.publishReliable('t/#', 'x')).toThrow(/invalid topic/);
  });
});

describe('outbox across a broker outage and an agent restart (Mosquitto)', () => {
  const broker = new TestMosquitto();
  beforeAll(() => broker.start());
  afterAll(() => broker.dispose());

  it('delivers an event raised while the broker was down, after it returns, even after the agent restarted', async () => {
    // The owner's phone keeps a persistent session, so the broker queues for it while it is away.
    const owner = await Recorder.connect(broker.url, ['t/dev2/event'], { clientId: 'owner-phone', clean: false });
    const { db, file } = tempDb();
    const first = makeLink(db, broker.url, 'dev2');
    first.link.start();
    await until(() => first.link.connected);

    await broker.stop();
    await until(() => !first.link.connected);
    first.link.publishReliable('t/dev2/event', '{"v":1,"type":"ring","n":1}');
    first.link.publishReliable('t/dev2/event', '{"v":1,"type":"ring","n":2}');
    expect(first.outbox.pending()).toBe(2);

    // The agent stops (or crashes) before the broker comes back: only SQLite remembers.
    await first.link.stop();
    db.close();

    await broker.start();
    const reopened = openDatabase(file);
    const second = makeLink(reopened, broker.url, 'dev2');
    second.link.start();
    try {
      await owner.waitFor((m) => m.payload.toString().includes('"n":2'));
      const ns = owner.messages.map((m) => (owner.json(m) as { n: number }).n);
      expect(ns).toEqual([1, 2]);
      await until(() => second.outbox.pending() === 0);
    } finally {
      await second.link.stop();
      reopened.close();
      await owner.close();
    }
  });
});

describe('embedded broker', () => {
  it('reports a taken port as a clear error instead of crashing', async () => {
    const { broker: taken } = await startEmbeddedBroker();
    try {
      const wsClash = new EmbeddedBroker({
        options: { host: '127.0.0.1', port: await freePort(), wsPort: Number(new URL(taken.wsUrl).port) },
        access: new BrokerAccess({ prefix: 'doorbell', deviceId: 'testdoor', deviceSecret: 'x', isOwner: () => false, now: Date.now }),
        log: silentLogger,
      });
      await expect(wsClash.start()).rejects.toThrow(/already in use/);
      await wsClash.stop();
    } finally {
      await taken.stop();
    }
  });
});
