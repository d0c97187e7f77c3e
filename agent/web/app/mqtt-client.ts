/** The phone's MQTT-over-WebSocket connection: reconnects on its own and re-subscribes each time. */
import { Buffer } from 'buffer';
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes, b64urlEncode } from './encoding.js';

export type ConnectionState = 'connecting' | 'connected' | 'offline';

export interface BrokerSettings {
  url: string;
  username?: string;
  password?: string;
  /** A key-authenticated login signs the client id, so such a caller chooses it. */
  clientId?: string;
  /** Key-authenticated login (protocol.md "Broker access"): a fresh signed password for every attempt. */
  login?: { username: string; password(clientId: string): Promise<string> };
}

export interface BrokerConnectionHandlers {
  /** Called with the topic filters' retained messages too; an empty payload clears a retained one. */
  message(topic: string, payload: Uint8Array): void;
  state(state: ConnectionState, detail: string): void;
  /** A new session began: retained messages are about to be delivered again. */
  session(): void;
}

const RECONNECT_MS = 2000;

export class BrokerConnection {
  private client: MqttClient | null = null;
  private subscribed = false;

  constructor(
    private readonly settings: BrokerSettings,
    private readonly filters: string[],
    private readonly on: BrokerConnectionHandlers,
  ) {}

  /** True once connected and subscribed: a reply to what we publish now cannot be missed. */
  get ready(): boolean {
    return this.subscribed && (this.client?.connected ?? false);
  }

  async start(): Promise<void> {
    this.on.state('connecting', this.settings.url);
    const clientId = this.settings.clientId ?? `owner-app-${b64urlEncode(randomBytes(9))}`;
    const login = this.settings.login;
    const client = mqtt.connect(this.settings.url, {
      clientId,
      clean: true,
      reconnectPeriod: RECONNECT_MS,
      connectTimeout: 10_000,
      keepalive: 30,
      // The default keeps time in a worker made from a blob: URL, which the page's policy forbids.
      timerVariant: 'native',
      ...(this.settings.username ? { username: this.settings.username } : {}),
      ...(this.settings.password ? { password: this.settings.password } : {}),
      ...(login ? { username: login.username, password: await login.password(clientId) } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      this.subscribed = false;
      this.on.session();
      // An empty SUBSCRIBE is a protocol error: nothing to read yet (before pairing) means ready now.
      const subscribing = this.filters.length ? client.subscribeAsync(this.filters, { qos: 1 }) : Promise.resolve();
      subscribing
        .then(() => {
          this.subscribed = true;
          this.on.state('connected', '');
        })
        .catch((err: Error & { packet?: { granted?: number[] } }) => {
          // A SUBACK that refuses some filters (a key the doorbell does not know, or no longer does): connected, and say which.
          const granted = err.packet?.granted;
          if (!granted) return this.on.state('offline', `subscribing failed: ${err.message}`);
          this.subscribed = true;
          const refused = this.filters.filter((_f, i) => granted[i] === 128);
          this.on.state('connected', `the broker refused ${refused.join(', ')}`);
        });
    });
    client.on('reconnect', () => this.on.state('connecting', this.settings.url));
    client.on('close', () => {
      this.subscribed = false;
      // The signed login is good for minutes only: the next attempt gets a fresh one.
      if (login) void login.password(clientId).then((p) => (client.options.password = p));
      this.on.state('offline', 'connection lost; retrying');
    });
    client.on('error', (err: Error) => this.on.state('offline', err.message));
    client.on('message', (topic: string, payload: Uint8Array) => this.on.message(topic, payload));
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.subscribed = false;
    if (client) await client.endAsync(true);
  }

  async publish(topic: string, payload: string | Uint8Array): Promise<void> {
    if (!this.client || !this.ready) throw new Error('not connected to the doorbell’s broker');
    // mqtt.js in the browser writes payloads through its bundled Buffer: a plain Uint8Array breaks the connection.
    await this.client.publishAsync(topic, typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1 });
  }
}
