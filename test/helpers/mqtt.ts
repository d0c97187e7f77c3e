import { createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { b64url, brokerPassword } from '../../agent/envelope/index.js';

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** A subscriber that records everything it receives and can wait for a matching message. */
export class Recorder {
  readonly messages: Received[] = [];
  private waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload, retain: packet.retain };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(m), false) : true));
    });
  }

  static async connect(url: string, filters: string[], opts: IClientOptions = {}): Promise<Recorder> {
    const client = await connectAsync(url, { reconnectPeriod: 200, ...opts });
    const recorder = new Recorder(client);
    // None for a client that only publishes (mqtt.js refuses an empty SUBSCRIBE).
    if (filters.length) await client.subscribeAsync(filters, { qos: 1 });
    return recorder;
  }

  waitFor(match: (m: Received) => boolean, timeoutMs = 20_000, what = 'message'): Promise<Received> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  json(m: Received): Record<string, unknown> {
    return JSON.parse(m.payload.toString('utf8')) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * A key-authenticated broker login (protocol.md "Broker access") with an Ed25519 private key: a
 * requester's or an owner's. `at` signs the password for another time (a stale one, in tests).
 */
export async function keyLogin(key: { privateKey: KeyObject }, opts: { clientId?: string; at?: number } = {}): Promise<IClientOptions & { clientId: string }> {
  const raw = createPublicKey(key.privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  const username = b64url(raw);
  const clientId = opts.clientId ?? `key-${randomBytes(6).toString('hex')}`;
  const signer = { keyId: '', sign: (m: Uint8Array) => new Uint8Array(sign(null, m, key.privateKey)) };
  return { clientId, username, password: await brokerPassword(signer, username, clientId, opts.at ?? Date.now()) };
}
