/**
 * The agent's one broker connection (mqtt.js stays behind this file). Retained state with a Last
 * Will, reconnect with backoff, and an SQLite outbox for what must not be lost.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { backoffMs } from './backoff.js';
import { sendWithoutDelay } from './no-delay.js';
import { BrokerOffline, type Outbox, type Publisher } from './outbox.js';
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
/** An outbox message not acknowledged within this counts as one failed attempt. */
const ACK_TIMEOUT_MS = 10_000;
/** A failed outbox delivery on a live connection is retried after this (a drop retries on reconnect). */
const RETRY_MS = 5_000;
/** How long a clean stop may wait for the broker before it just closes the socket. */
const STOP_GRACE_MS = 3_000;

export class MqttLink {
  private client: MqttClient | null = null;
  private readonly subscriptions = new Map<string, MessageHandler>();
  private readonly connectListeners: (() => void)[] = [];
  private attempts = 0;
  private health: LinkHealth = { connected: false, since: Date.now(), detail: 'not started' };
  private retry: NodeJS.Timeout | null = null;

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
      // mqtt-packet would otherwise pre-build a Buffer for each of the 65 536 packet ids: 6 MiB of heap.
      writeCache: false,
    };
    const client = sendWithoutDelay(connect(o.url, opts));
    this.client = client;
    // Every publish in flight listens for 'close' (see publishOnce).
    client.setMaxListeners(0);
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

  /** Ends the connection: gracefully if the broker answers within STOP_GRACE_MS, else at once. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (this.retry) clearTimeout(this.retry);
    if (!client) return;
    const graceful = await withTimeout(client.endAsync(), STOP_GRACE_MS).then(
      (ended) => ended,
      () => false,
    );
    if (!graceful) await client.endAsync(true).catch(() => undefined);
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

  /**
   * Through the outbox: delivered at least once, even across a broker outage or an agent restart.
   * `independent`: outside the ordered stream, for a topic someone else chose (a requester's receipt);
   * it is only stored here and goes out after the caller's synchronous work, so it may be queued
   * inside a database transaction and never leaves before that commits.
   */
  publishReliable(topic: string, payload: Buffer | string, opts: { retain?: boolean; independent?: boolean } = {}): void {
    assertPublishable(topic);
    const message = toBuffer(payload);
    const options = { qos: 1 as const, retain: opts.retain ?? false };
    const client = this.client;
    if (opts.independent) {
      this.deps.outbox.enqueue(topic, message, { ...options, independent: true });
      return queueMicrotask(() => void this.flushOutbox());
    }
    // A message that cannot be stored (a full disk) throws here, to the caller.
    if (!client?.connected) return void this.deps.outbox.enqueue(topic, message, options);
    void this.delivered(client, this.deps.outbox.send(topic, message, options, publisherFor(client)));
  }

  /**
   * Best effort, for messages superseded by the next one (state, snapshot, progress): dropped while
   * offline, and with `afterReliable` also while reliable messages still wait, so it never overtakes them.
   */
  async publishLatest(
    topic: string,
    payload: Buffer | string,
    opts: { qos?: 0 | 1; retain?: boolean; afterReliable?: boolean } = {},
  ): Promise<void> {
    assertPublishable(topic);
    const client = this.client;
    if (!client?.connected) return;
    if (opts.afterReliable && this.deps.outbox.busy()) return;
    await publishOnce(client, topic, toBuffer(payload), { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }

  private async flushOutbox(): Promise<void> {
    const client = this.client;
    if (client?.connected) await this.delivered(client, this.deps.outbox.flush(publisherFor(client)));
  }

  /** Waits for an outbox delivery; a failure pauses it, retried after RETRY_MS (or on reconnect). */
  private async delivered(client: MqttClient, delivery: Promise<void>): Promise<void> {
    try {
      await delivery;
    } catch (err) {
      this.deps.log.warn('outbox delivery paused; will resume', { error: (err as Error).message });
      if (client.connected && this.client === client && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.flushOutbox();
        }, RETRY_MS);
      }
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

function publisherFor(client: MqttClient): Publisher {
  return {
    publish: async (topic, payload, opts) => {
      if (!client.connected) throw new BrokerOffline();
      await publishOnce(client, topic, payload, opts);
    },
  };
}

/**
 * One QoS 0/1 publish that settles: acknowledged, or failed when the broker drops the connection
 * (Mosquitto does for a topic it refuses) or does not answer within ACK_TIMEOUT_MS (aedes ignores
 * one). A failed message is removed from mqtt.js's own resend queue: the outbox decides about it,
 * and it must not be replayed at the broker on every reconnect.
 */
function publishOnce(client: MqttClient, topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const callback = (err?: Error): void => {
      settle(err ?? null);
    };
    const settle = (err: Error | null): void => {
      clearTimeout(timer);
      client.removeListener('close', onClose);
      if (!err) return resolve();
      const entry = Object.entries(client.outgoing).find(([, o]) => o.cb === callback);
      if (entry) {
        entry[1].cb = () => undefined; // settled here already
        client.removeOutgoingMessage(Number(entry[0]));
      }
      reject(err);
    };
    const onClose = (): void => settle(new Error('the broker closed the connection while this message was in flight'));
    timer = setTimeout(() => settle(new Error(`no acknowledgement within ${ACK_TIMEOUT_MS / 1000} s`)), ACK_TIMEOUT_MS);
    client.once('close', onClose);
    client.publish(topic, payload, opts, callback);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(() =>
    clearTimeout(timer),
  );
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
