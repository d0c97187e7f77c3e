/**
 * The outbox and the device's message counter on a real full disk (a small tmpfs, filled to the last
 * byte; root only): messages still reach the broker in order and exactly once, also those queued
 * while the broker was away, and everything is written once there is room; message numbers keep
 * growing through the full disk and across a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { MqttLink, Outbox } from '../../agent/mqtt/index.js';
import { DeviceSequence } from '../../agent/owner/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { fillDisk, freeDisk, mountSmallDisk, unmountSmallDisk } from '../../scripts/chaos/small-disk.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const until = (what: string, check: () => boolean, timeoutMs = 15_000): Promise<unknown> => waitFor(what, () => check() || undefined, timeoutMs);

/** Everything a test started, stopped in reverse order also when it fails. */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) {
    try {
      await cleanup.pop()!();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
});

/** A mounted small disk with a database on it; null (and the test is skipped) when not root. */
function smallDisk(megabytes: number): { dir: string; filler: string; db: () => Db } | null {
  const dir = mkdtempSync(join(tmpdir(), 'small-disk-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const skipped = mountSmallDisk(dir, megabytes);
  if (skipped) {
    process.stdout.write(`skipped: ${skipped}\n`);
    return null;
  }
  cleanup.push(() => unmountSmallDisk(dir));
  return {
    dir,
    filler: join(dir, 'filler'),
    db: () => {
      const db = openDatabase(join(dir, 'doorbell.db'));
      cleanup.push(() => db.open && db.close());
      return db;
    },
  };
}

describe('on a full disk', () => {
  it('hands out message numbers through the half block reserved ahead, and never one again after a restart', () => {
    const disk = smallDisk(4);
    if (!disk) return;
    const db = disk.db();
    const sequence = new DeviceSequence(db, silentLogger);
    sequence.start();
    const taken: number[] = [];
    for (let i = 0; i < 600; i++) taken.push(sequence.take());
    fillDisk(disk.filler);
    // Past the end of the first block of 1000: the next block was reserved while there was room.
    for (let i = 0; i < 800; i++) taken.push(sequence.take());
    freeDisk(disk.filler);
    for (let i = 0; i < 700; i++) taken.push(sequence.take());
    db.close();
    const again = new DeviceSequence(disk.db(), silentLogger);
    again.start();
    taken.push(again.take());
    for (let i = 1; i < taken.length; i++) expect(taken[i]!, `number ${i}`).toBeGreaterThan(taken[i - 1]!);
  });

  it('delivers what the disk refused, in order and once, also across a broker outage, and writes it all once there is room', async () => {
    const disk = smallDisk(6);
    if (!disk) return;
    const broker = new TestMosquitto();
    cleanup.push(() => broker.dispose());
    await broker.start();
    const sub = await Recorder.connect(broker.url, ['t/full/#'], { clean: false, clientId: `full-sub-${process.pid}` });
    cleanup.push(() => sub.close());
    const db = disk.db();
    const refusals: (string | null)[] = [];
    const outbox = new Outbox({ db, log: silentLogger, now: Date.now, onDiskRefusal: () => refusals.push(outbox.diskRefusal()) });
    outbox.start();
    cleanup.push(() => outbox.stop());
    const link = new MqttLink({
      options: { url: broker.url, clientId: `full-${process.pid}`, keepaliveSeconds: 5, will: { topic: 't/full-state', payload: Buffer.from('{}') } },
      outbox,
      log: silentLogger,
    });
    cleanup.push(() => link.stop());
    link.start();
    await until('the link to connect', () => link.connected);
    // Each message needs new pages: a full disk cannot take one.
    const body = (n: number): string => JSON.stringify({ n, pad: 'x'.repeat(6000) });
    const received = (): number[] => sub.messages.map((m) => (sub.json(m) as { n: number }).n);

    // Stored while there was room, waiting for a broker that is away: their rows are deleted later.
    await broker.stop();
    await until('the link to notice', () => !link.connected);
    for (let n = 0; n < 5; n++) link.publishReliable('t/full/event', body(n));
    fillDisk(disk.filler);
    // Refused by the disk while the broker is away: kept in memory.
    for (let n = 5; n < 10; n++) link.publishReliable('t/full/event', body(n));
    expect(outbox.diskRefusal()).toMatch(/full/);
    await broker.start();
    // Refused by the disk while the broker is there: sent from memory, in order.
    await until('the link to reconnect', () => link.connected, 30_000);
    for (let n = 10; n < 40; n++) link.publishReliable('t/full/event', body(n));
    await until('40 messages', () => received().length >= 40, 30_000);
    await until('nothing left to send', () => outbox.pending() === 0);
    // A retry after the outbox's 5 s pause would send the stored ones again: none may come twice.
    await new Promise((r) => setTimeout(r, 6000));
    expect(received()).toEqual([...Array(40).keys()]);
    expect(outbox.diskRefusal()).not.toBeNull();

    freeDisk(disk.filler);
    link.publishReliable('t/full/event', body(40));
    await until('the refusal to end', () => outbox.diskRefusal() === null);
    await until('the 41st message', () => received().length === 41);
    await until('nothing left to send', () => outbox.pending() === 0);
    expect(refusals).toEqual([expect.stringMatching(/full/), null]);
    expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  }, 90_000);
});
