/**
 * A reliable message goes to the broker before its outbox row is written when nothing else waits
 * (Outbox.send): the order on the wire stays the outbox's, nothing is left behind, and a store that
 * cannot grow (a full disk) no longer keeps a ring from reaching the owner.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.js';
import { MqttLink, Outbox } from '../../agent/mqtt/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const until = (check: () => boolean, timeoutMs: number, what: string): Promise<unknown> => waitFor(what, () => check() || undefined, timeoutMs);

describe('the outbox sends first when nothing waits (Mosquitto)', () => {
  const broker = new TestMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'send-first-'));
  const open: { close(): Promise<void> | void }[] = [];
  beforeAll(() => broker.start());
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  afterAll(async () => {
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (name: string): Promise<{ db: Db; outbox: Outbox; link: MqttLink; logs: { level: string; msg: string }[] }> => {
    const logs: { level: string; msg: string }[] = [];
    const log = createLogger({ level: 'debug', sink: { write: (line) => void logs.push(JSON.parse(line) as { level: string; msg: string }) } });
    const db = openDatabase(join(dir, `${name}.db`));
    const outbox = new Outbox({ db, log, now: Date.now });
    outbox.start();
    const link = new MqttLink({
      options: { url: broker.url, clientId: name, keepaliveSeconds: 5, will: { topic: `t/${name}/state`, payload: Buffer.from('{}') } },
      outbox,
      log,
    });
    open.push({ close: () => void db.close() }, { close: () => link.stop() });
    link.start();
    await until(() => link.connected, 10_000, 'the link to connect');
    return { db, outbox, link, logs };
  };

  it('delivers a burst in order, each message once, and leaves no row behind', async () => {
    const sub = await Recorder.connect(broker.url, ['t/burst/event']);
    open.push(sub);
    const { outbox, link } = await start('burst');
    for (let i = 0; i < 40; i++) link.publishReliable('t/burst/event', JSON.stringify({ i }));
    await until(() => sub.messages.length >= 40 && !outbox.busy(), 15_000, '40 messages');
    expect(sub.messages.map((m) => (sub.json(m) as { i: number }).i)).toEqual([...Array(40).keys()]);
    expect(outbox.pending()).toBe(0);
  });

  it('still sends a ring when the store cannot grow, and the store stays consistent', async () => {
    const sub = await Recorder.connect(broker.url, ['t/full/event']);
    open.push(sub);
    const { db, outbox, link, logs } = await start('full');
    // SQLite's own limit stands in for a full SD card: every write that needs a new page fails with SQLITE_FULL.
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const big = 'x'.repeat(8000); // more than a page: the row cannot fit in free space
    expect(() => link.publishReliable('t/full/event', JSON.stringify({ type: 'ring', big }))).not.toThrow();
    const got = await sub.waitFor((m) => m.topic === 't/full/event', 10_000, 'the ring');
    expect((sub.json(got) as { type: string }).type).toBe('ring');
    await until(() => !outbox.busy(), 10_000, 'the send to settle');
    // Acknowledged before its row was due, or kept in memory while the disk refuses it: never thrown, never half-written.
    expect(logs.filter((l) => l.level === 'error' && !/the disk refused a write/.test(l.msg))).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(outbox.pending()).toBe(0);
  });
});
