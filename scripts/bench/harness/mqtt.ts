/** A test MQTT client that records what it receives and can wait for a matching message. */
import { randomBytes } from 'node:crypto';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { sendWithoutDelay } from '../../../agent/mqtt/no-delay.js';

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** performance.now() + performance.timeOrigin when the client handed it over. */
  receivedAt: number;
}

export class MqttProbe {
  readonly messages: Received[] = [];
  private waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload, retain: packet.retain, receivedAt: performance.timeOrigin + performance.now() };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(m), false) : true));
    });
  }

  static async connect(url: string, filters: string[] = [], opts: IClientOptions = {}): Promise<MqttProbe> {
    // Like a phone's browser, which never holds a small packet back (see no-delay.ts).
    const client = sendWithoutDelay(
      await connectAsync(url, {
        clientId: `bench-${randomBytes(4).toString('hex')}`,
        protocolVersion: 4,
        reconnectPeriod: 200,
        ...opts,
      }),
    );
    const probe = new MqttProbe(client);
    if (filters.length) await client.subscribeAsync(filters, { qos: 1 });
    return probe;
  }

  waitFor(match: (m: Received) => boolean, timeoutMs: number, what: string): Promise<Received> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (m: Received): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function json(m: Received): Record<string, unknown> {
  return JSON.parse(m.payload.toString('utf8')) as Record<string, unknown>;
}
