/**
 * The embedded broker on its own, for tests of MQTT clients (the link, the outbox, discovery): its
 * access control on, as in the agent, with a random device password the test logs in with.
 */
import { randomBytes } from 'node:crypto';
import type { IClientOptions } from 'mqtt';
import { silentLogger } from '../../agent/log.js';
import { BrokerAccess, EmbeddedBroker } from '../../agent/mqtt/index.js';
import { freePort } from './ports.js';

export interface TestBroker {
  broker: EmbeddedBroker;
  url: string;
  /** The `device` login: it may publish and read everything. */
  device: { username: string; password: string } & IClientOptions;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(opts: { prefix?: string; deviceId?: string; isOwner?: (keyId: string) => boolean; port?: number } = {}): Promise<TestBroker> {
  const deviceSecret = randomBytes(16).toString('base64url');
  const access = new BrokerAccess({
    prefix: opts.prefix ?? 'doorbell',
    deviceId: opts.deviceId ?? 'testdoor',
    deviceSecret,
    isOwner: opts.isOwner ?? (() => false),
    now: Date.now,
  });
  const broker = new EmbeddedBroker({ options: { host: '127.0.0.1', port: opts.port ?? (await freePort()), wsPort: await freePort() }, access, log: silentLogger });
  await broker.start();
  return { broker, url: broker.url, device: { username: 'device', password: deviceSecret }, stop: () => broker.stop() };
}
