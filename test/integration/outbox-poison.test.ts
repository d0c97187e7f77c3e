/**
 * A message the broker refuses must not jam the outbox: it is set aside after a few tries (kept,
 * audited, shown by doctor and the state) and later events flow. On aedes (too many topic levels)
 * and Mosquitto (a control character), each of which drops the connection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../agent/main.js';
import { silentLogger } from '../../agent/log.js';
import { MqttLink, Outbox } from '../../agent/mqtt/index.js';
import { openDatabase } from '../../agent/store/database.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { ChildAgent } from '../helpers/child-agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { deviceLogin } from '../helpers/owner.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TOO_DEEP = Array.from({ length: 150 }, (_, i) => `l${i}`).join('/');

function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

type Login = { username?: string; password?: string };

function link(url: string, login: Login): { link: MqttLink; outbox: Outbox; setAside: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'poison-'));
  dirs.push(dir);
  const setAside: string[] = [];
  const outbox = new Outbox({ db: openDatabase(join(dir, 'doorbell.db')), log: silentLogger, now: Date.now, onSetAside: (m) => setAside.push(m.topic) });
  outbox.start();
  const l = new MqttLink({
    options: { url, ...login, clientId: `poison-${Date.now()}`, keepaliveSeconds: 5, will: { topic: 'x/state', payload: Buffer.from('off') } },
    outbox,
    log: silentLogger,
  });
  return { link: l, outbox, setAside };
}

const brokers: { name: string; poison: string; start: () => Promise<{ url: string; login: Login; stop: () => Promise<void> | void }> }[] = [
  {
    name: 'aedes (embedded)',
    poison: `x/${TOO_DEEP}`,
    start: async () => {
      const b = await startEmbeddedBroker();
      return { url: b.url, login: b.device, stop: () => b.stop() };
    },
  },
  {
    name: 'Mosquitto',
    poison: 'x/a\u0001b',
    start: async () => {
      const m = new TestMosquitto();
      await m.start();
      return { url: m.url, login: {}, stop: () => m.dispose() };
    },
  },
];

describe.each(brokers)('outbox on $name', ({ poison, start }) => {
  it('sets a refused message aside after a few tries and delivers the ones behind it', async () => {
    const broker = await start();
    const sub = await Recorder.connect(broker.url, ['x/ok/#'], broker.login);
    const { link: l, outbox, setAside } = link(broker.url, broker.login);
    try {
      l.start();
      l.publishReliable(poison, 'poison');
      l.publishReliable('x/ok/1', 'first after the poison');
      l.publishReliable('x/ok/2', 'second');
      await sub.waitFor((m) => m.topic === 'x/ok/2', 30_000, 'the messages behind the poison');
      expect(sub.messages.map((m) => m.topic)).toEqual(['x/ok/1', 'x/ok/2']);
      expect(setAside).toEqual([poison]);
      expect(outbox.setAside()).toBe(1);
      // Deleted once acknowledged (the subscriber may see it a moment before the puback).
      await until(() => outbox.pending() === 0, 10_000, 'the outbox to empty');
      // Later messages flow at once: the poison is not tried again.
      l.publishReliable('x/ok/3', 'later');
      await sub.waitFor((m) => m.topic === 'x/ok/3', 10_000, 'a later message');
    } finally {
      await l.stop();
      await sub.client.endAsync();
      await broker.stop();
    }
  });

  it('delivers an independent message (a receipt) on its own: a refused one holds back nothing and is set aside', async () => {
    const broker = await start();
    const sub = await Recorder.connect(broker.url, ['x/ok/#'], broker.login);
    const { link: l, outbox, setAside } = link(broker.url, broker.login);
    try {
      l.start();
      l.publishReliable(poison, 'poison receipt', { independent: true });
      l.publishReliable('x/ok/receipt', 'another receipt', { independent: true });
      l.publishReliable('x/ok/event', 'an event');
      await sub.waitFor((m) => m.topic === 'x/ok/event', 30_000, 'the event');
      await sub.waitFor((m) => m.topic === 'x/ok/receipt', 30_000, 'the other receipt');
      // Neither waited for the refused receipt to be given up.
      expect(setAside).toEqual([]);
      await until(() => setAside.length === 1, 90_000, 'the refused receipt to be set aside');
      expect(setAside).toEqual([poison]);
      await until(() => outbox.pending() === 0, 10_000, 'the outbox to empty');
      expect(outbox.setAside()).toBe(1);
    } finally {
      await l.stop();
      await sub.client.endAsync();
      await broker.stop();
    }
  }, 120_000);

  it('stops within 10 s while a refused message is in flight', async () => {
    const broker = await start();
    const { link: l } = link(broker.url, broker.login);
    try {
      l.start();
      l.publishReliable(poison, 'poison');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await l.stop();
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await broker.stop();
    }
  });
});

describe('a poison message in a running agent', () => {
  const child = new ChildAgent();
  afterAll(() => child.dispose());

  it('survives restarts set aside: later rings reach the owner, the audit, state and doctor show it, SIGTERM stops it', async () => {
    await child.configure();
    await child.start();
    expect(await child.kill('SIGTERM')).toBe(0);
    // Left in the outbox by the previous run: a refused topic at the head of the queue.
    const db = openDatabase(databasePath(child.config));
    db.prepare('INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, 1, 0, ?)').run(
      `doorbell/childdoor/${TOO_DEEP}`,
      Buffer.from('poison'),
      Date.now(),
    );
    db.close();
    await child.start();
    const sub = await Recorder.connect(child.brokerUrl, ['doorbell/childdoor/event', 'doorbell/childdoor/state'], deviceLogin(child));
    try {
      await child.control('sim', { what: 'ring' });
      const event = await sub.waitFor((m) => m.topic === 'doorbell/childdoor/event', 40_000, 'the ring event');
      expect(sub.json(event)).toMatchObject({ type: 'ring' });
      await sub.waitFor(
        (m) => m.topic === 'doorbell/childdoor/state' && (sub.json(m).outbox as { setAside?: number } | undefined)?.setAside === 1,
        10_000,
        'the state counting the set-aside message',
      );
      const doctor = await child.cli(['doctor', '--json']);
      const check = (JSON.parse(doctor.stdout) as { checks: { name: string; detail: string; warning?: boolean }[] }).checks.find(
        (c) => c.name === 'outbox',
      );
      expect(check).toMatchObject({ warning: true });
      expect(check!.detail).toContain('1 message set aside');
      const t0 = Date.now();
      expect(await child.kill('SIGTERM')).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const audit = openDatabase(databasePath(child.config), { readonly: true });
      const entries = (audit.prepare('SELECT entry FROM audit_log ORDER BY seq').all() as { entry: string }[]).map(
        (r) => JSON.parse(r.entry) as { type: string; topic?: string },
      );
      audit.close();
      expect(entries.filter((e) => e.type === 'outbox-set-aside').map((e) => e.topic)).toEqual([`doorbell/childdoor/${TOO_DEEP}`]);
    } finally {
      await sub.client.endAsync();
    }
  });
});
