/**
 * The agent's one broker connection (mqtt.js stays behind this file). Retained state with a Last
 * Will, reconnect with backoff, and an SQLite outbox for what must not be lost.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { backoffMs } from './backoff.js';
import type { Outbox } from './outbox.js';
import { assertPublishable } from './topics.js';

export interface LinkOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
  keepaliveSeconds: number;
  will: { topic: string; payload: Buffer };
}

export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface LinkHealth {
  connected: boolean;
  since: number;
  detail?: string;
}

const RECONNECT_BASE_MS = 1000;
const RECONNECT_CAP_MS = 60_000;

export class MqttLink {
  private client: MqttClient | null = null;
  private readonly subscriptions = new Map<string, MessageHandler>();
  private readonly connectListeners: (() => void)[] = [];
  private attempts = 0;
  private health: LinkHealth = { connected: false, since: Date.now(), detail: 'not started' };

  constructor(private readonly deps: { options: LinkOptions; outbox: Outbox; log: Logger }) {}

  start(): void {
    const o = this.deps.options;
    const opts: IClientOptions = {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      keepalive: o.keepaliveSeconds,
      protocolVersion: 4,
      // A persistent session: the broker keeps QoS 1 requests and decisions for us while we are away.
      clean: false,
      reconnectPeriod: RECONNECT_BASE_MS,
      // mqtt.js stops for good after a refused CONNACK unless told otherwise.
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      will: { topic: o.will.topic, payload: o.will.payload, qos: 1, retain: true },
    };
    const client = connect(o.url, opts);
    this.client = client;
    client.on('connect', () => {
      this.attempts = 0;
      client.options.reconnectPeriod = RECONNECT_BASE_MS;
      this.setHealth({ connected: true, since: Date.now() });
      this.deps.log.info('connected to broker', { url: o.url });
      void this.resubscribe();
      for (const listener of this.connectListeners) listener();
      void this.flushOutbox();
    });
    client.on('close', () => {
      // mqtt.js only knows a fixed period; stretch it before it schedules the next attempt.
      client.options.reconnectPeriod = backoffMs(this.attempts++, RECONNECT_BASE_MS, RECONNECT_CAP_MS);
      if (this.health.connected) this.deps.log.warn('broker connection lost; reconnecting with backoff');
      this.setHealth({ connected: false, since: this.health.connected ? Date.now() : this.health.since, detail: this.health.detail ?? 'disconnected' });
    });
    client.on('error', (err) => {
      this.setHealth({ ...this.health, detail: err.message });
      this.deps.log.warn('broker error', { error: err.message });
    });
    client.on('message', (topic, payload) => this.dispatch(topic, payload));
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    await client.endAsync();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  status(): LinkHealth {
    return this.health;
  }

  /** Called on every (re)connect, e.g. to republish retained state. */
  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  /** Subscribes (and resubscribes after every reconnect); one handler per filter. */
  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.subscriptions.set(filter, handler);
    if (this.client?.connected) await this.client.subscribeAsync(filter, { qos: 1 });
  }

  /** Through the outbox: delivered at least once, even across a broker outage or an agent restart. */
  publishReliable(topic: string, payload: Buffer | string, opts: { retain?: boolean } = {}): void {
    assertPublishable(topic);
    this.deps.outbox.enqueue(topic, toBuffer(payload), { qos: 1, retain: opts.retain ?? false });
    void this.flushOutbox();
  }

  /** Best effort, for messages superseded by the next one (state, snapshot): dropped while offline. */
  async publishLatest(topic: string, payload: Buffer | string, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    assertPublishable(topic);
    const client = this.client;
    if (!client?.connected) return;
    await client.publishAsync(topic, toBuffer(payload), { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }

  private async flushOutbox(): Promise<void> {
    const client = this.client;
    if (!client?.connected) return;
    try {
      await this.deps.outbox.flush({
        publish: async (topic, payload, opts) => {
          if (!client.connected) throw new Error('broker disconnected');
          await client.publishAsync(topic, payload, opts);
        },
      });
    } catch (err) {
      this.deps.log.warn('outbox delivery paused; will resume on reconnect', { error: (err as Error).message });
    }
  }

  private async resubscribe(): Promise<void> {
    const client = this.client;
    if (!client || this.subscriptions.size === 0) return;
    try {
      await client.subscribeAsync([...this.subscriptions.keys()], { qos: 1 });
    } catch (err) {
      this.deps.log.warn('subscribe failed', { error: (err as Error).message });
    }
  }

  private dispatch(topic: string, payload: Buffer): void {
    for (const [filter, handler] of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      try {
        handler(topic, payload);
      } catch (err) {
        // One bad message must never take the link down.
        this.deps.log.error('message handler failed', { topic, error: (err as Error).message });
      }
    }
  }

  private setHealth(next: LinkHealth): void {
    this.health = next;
  }
}

function toBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

/** MQTT filter matching with + and #. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
