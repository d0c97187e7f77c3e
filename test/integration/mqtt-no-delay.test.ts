/**
 * MQTT connections send small packets at once (TCP_NODELAY): with Nagle's algorithm a packet written
 * while the previous one is unacknowledged waits for that ACK, which Linux delays by up to 40 ms (an
 * owner's approval reached the agent 20–40 ms late in `npm run bench`). Asked of the kernel itself,
 * for the agent's link (also after a reconnect), the embedded broker's side, and the owner's session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OwnerSession } from '../../agent/cli/owner-session.js';
import { silentLogger } from '../../agent/log.js';
import { MqttLink, Outbox } from '../../agent/mqtt/index.js';
import { DeviceKey } from '../../agent/owner/index.js';
import { openDatabase } from '../../agent/store/database.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { newOwnerKeyFile } from '../helpers/owner.js';
import { tcpEndsAt } from '../helpers/tcp-no-delay.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mqtt-no-delay-'));
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startLink(url: string, login: { username?: string; password?: string } = {}): MqttLink {
  const db = openDatabase(join(dir, `link-${cleanup.length}.db`));
  const outbox = new Outbox({ db, log: silentLogger, now: Date.now });
  outbox.start();
  const link = new MqttLink({
    options: { url, ...login, clientId: 'nodelay-dev', keepaliveSeconds: 5, will: { topic: 't/nodelay/state', payload: Buffer.from('{}') } },
    outbox,
    log: silentLogger,
  });
  cleanup.push(
    () => {
      db.close();
    },
    () => link.stop(),
  );
  link.start();
  return link;
}

/** The client ends of this process's connections to `port`. */
const clientEnds = (port: number) => tcpEndsAt(port).filter((e) => e.remotePort === port);

describe('TCP_NODELAY on MQTT connections', () => {
  it('is on for the agent’s link to Mosquitto, and again after the broker comes back', async () => {
    const broker = new TestMosquitto();
    await broker.start();
    cleanup.push(() => broker.dispose());
    const link = startLink(broker.url);
    await waitFor('the link to connect', () => link.connected);
    expect(clientEnds(broker.port)).toEqual([expect.objectContaining({ noDelay: true })]);

    await broker.stop();
    await waitFor('the link to notice the broker is gone', () => !link.connected);
    await broker.start();
    await waitFor('the link to reconnect', () => link.connected, 30_000);
    expect(clientEnds(broker.port)).toEqual([expect.objectContaining({ noDelay: true })]);
  });

  it('is on at both ends of a connection to the embedded broker', async () => {
    const broker = await startEmbeddedBroker();
    cleanup.push(() => broker.stop());
    const link = startLink(broker.url, broker.device);
    await waitFor('the link to connect', () => link.connected);
    const port = Number(new URL(broker.url).port);
    const ends = tcpEndsAt(port);
    expect(ends.map((e) => (e.localPort === port ? 'broker' : 'agent')).sort()).toEqual(['agent', 'broker']);
    expect(ends.every((e) => e.noDelay)).toBe(true);
  });

  it('is on for the owner’s session, which sends the approvals', async () => {
    const broker = new TestMosquitto();
    await broker.start();
    cleanup.push(() => broker.dispose());
    const device = new DeviceKey({ dir: join(dir, 'device'), log: silentLogger });
    await device.start();
    const session = await OwnerSession.open({ url: broker.url, prefix: 'doorbell', deviceId: 'frontdoor', key: await newOwnerKeyFile(), device: device.publicKeys });
    cleanup.push(() => session.close());
    expect(clientEnds(broker.port)).toEqual([expect.objectContaining({ noDelay: true })]);
  });
});
