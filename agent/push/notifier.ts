/**
 * Tells enrolled owners' phones what happened, through their browsers' push services: on a ring, on
 * motion (off by default), on a request waiting for a decision and when an upload ended. `notify()`
 * only enqueues, so the trigger path never waits for a push service. Subscriptions arrive sealed over
 * the owner channel; the push service sees only RFC 8291 ciphertext.
 */
import type { Agent as HttpsAgent } from 'node:https';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { isTimely, type OpenedMessage } from '../envelope/index.js';
import type { Db } from '../store/database.js';
import { pushPayload, type PushEvent } from './payload.js';
import { PushSender, type PushMessage } from './sender.js';
import { parsePushSubscription, PushSubscriptionError, type PushKind } from './subscription-message.js';
import { PushSubscriptions, type StoredSubscription } from './subscriptions.js';
import type { VapidKey } from './vapid-key.js';

export interface PushSettings {
  enabled: boolean;
  ring: boolean;
  motion: boolean;
  request: boolean;
  upload: boolean;
  requesterDetails: boolean;
  contact: string;
  timeoutSeconds: number;
}

export interface PushNotifierDeps {
  settings: PushSettings;
  db: Db;
  deviceId: string;
  deviceName: string;
  vapid: VapidKey;
  /** Only enrolled, unrevoked owners get pushes. */
  isActiveOwner(keyId: string): boolean;
  audit: {
    append(type: string, data: Record<string, unknown>): unknown;
    appendRefusal(topic: string, reason: string, data: Record<string, unknown>): void;
  };
  clock: Clock;
  log: Logger;
  httpsAgent?: HttpsAgent | undefined;
}

const DELIVERY: Record<PushKind, Pick<PushMessage, 'ttlSeconds' | 'urgency'>> = {
  // A ring is worth nothing an hour later; a request waits for days.
  ring: { ttlSeconds: 10 * 60, urgency: 'high' },
  motion: { ttlSeconds: 10 * 60, urgency: 'normal' },
  request: { ttlSeconds: 24 * 3600, urgency: 'normal' },
  upload: { ttlSeconds: 24 * 3600, urgency: 'low' },
};

export class PushNotifier {
  private readonly subscriptions: PushSubscriptions;
  private readonly sender: PushSender;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: PushNotifierDeps) {
    this.subscriptions = new PushSubscriptions(deps.db);
    this.sender = new PushSender({
      vapid: deps.vapid,
      contact: deps.settings.contact,
      timeoutMs: deps.settings.timeoutSeconds * 1000,
      maxQueued: 16,
      agent: deps.httpsAgent,
      log: deps.log,
    });
  }

  start(): void {
    this.subscriptions.start();
  }

  stop(): void {
    this.sender.stop();
  }

  /** The device's VAPID public key: the app subscribes with it. */
  get publicKey(): string {
    return this.deps.vapid.publicKey;
  }

  /** Handles an owner's `push-subscription` message (already opened: sealed to us, signed by an enrolled owner). */
  subscribe(message: OpenedMessage, topic: string): void {
    const { audit, clock, deviceId } = this.deps;
    let body;
    try {
      body = parsePushSubscription(message.body);
    } catch (err) {
      if (!(err instanceof PushSubscriptionError)) throw err;
      audit.appendRefusal(topic, 'bad-body', { keyId: message.keyId, detail: err.message });
      return;
    }
    if (body.device !== deviceId) return audit.appendRefusal(topic, 'wrong-device', { keyId: message.keyId });
    if (!isTimely(body.at, clock.now())) return audit.appendRefusal(topic, 'untimely-subscription', { keyId: message.keyId });
    const at = Date.parse(body.at);
    const last = this.subscriptions.updatedAt(message.keyId);
    // A replay of an older message must not bring back a subscription the owner replaced or ended.
    if (last !== undefined && at <= last) return audit.appendRefusal(topic, 'stale', { keyId: message.keyId });
    this.subscriptions.put(message.keyId, body.subscription, body.kinds, body.details, at);
    audit.append('push-subscription', {
      keyId: message.keyId,
      service: body.subscription ? new URL(body.subscription.endpoint).origin : null,
      kinds: body.kinds,
      details: body.details,
    });
    this.deps.log.info(body.subscription ? 'push subscription stored' : 'push subscription ended', { keyId: message.keyId });
  }

  /** Enqueues a notification for every owner who wants this kind; returns at once. */
  notify(event: PushEvent): void {
    const { settings } = this.deps;
    if (!settings.enabled || !settings[event.kind]) return;
    // Even the subscription lookup waits until the caller (a GPIO edge, an audit append) is done.
    setImmediate(() => this.dispatch(event));
  }

  private dispatch(event: PushEvent): void {
    const { settings } = this.deps;
    let targets: StoredSubscription[];
    try {
      targets = this.subscriptions.active().filter((s) => s.kinds.includes(event.kind) && this.deps.isActiveOwner(s.ownerKeyId));
    } catch (err) {
      this.deps.log.error('push subscriptions unreadable', { error: (err as Error).message });
      return;
    }
    for (const target of targets) {
      const payload = pushPayload(event, this.deps.deviceName, settings.requesterDetails && target.details);
      const sent = this.sender
        .send({ subscription: target.subscription, payload: JSON.stringify(payload), ...DELIVERY[event.kind], topic: payload.kind === 'motion' ? 'motion' : undefined })
        .then((outcome) => {
          if (outcome.ok) return;
          if (outcome.gone && this.subscriptions.remove(target.ownerKeyId, target.subscription.endpoint)) {
            this.deps.audit.append('push-subscription-removed', {
              keyId: target.ownerKeyId,
              service: new URL(target.subscription.endpoint).origin,
              status: outcome.status,
            });
            this.deps.log.warn('push subscription expired and removed', { keyId: target.ownerKeyId, status: outcome.status });
          } else {
            this.deps.log.warn('push not delivered', { keyId: target.ownerKeyId, kind: event.kind, error: outcome.error });
          }
        })
        .catch((err: Error) => this.deps.log.error('push bookkeeping failed', { error: err.message }))
        .finally(() => this.pending.delete(sent));
      this.pending.add(sent);
    }
  }

  /** Resolves when every push enqueued so far has been answered or given up (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
