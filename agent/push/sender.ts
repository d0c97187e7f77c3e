/**
 * Delivers encrypted pushes (RFC 8030 with RFC 8291 aes128gcm payloads and RFC 8292 VAPID, built by
 * the `web-push` library) to push services, away from everything else the agent does. Each
 * subscription has its own lane: one request in flight, a deadline for it, and a short queue that
 * drops its oldest. A push service that hangs or is away slows its own lane only.
 */
import { request, type Agent } from 'node:https';
import { createRequire } from 'node:module';
import type WebPush from 'web-push';
import type { Logger } from '../log.js';
import type { PushSubscriptionKeys } from './subscription-message.js';
import type { VapidKey } from './vapid-key.js';

export interface PushMessage {
  subscription: PushSubscriptionKeys;
  payload: string;
  /** Seconds the push service may keep it for a phone that is offline. */
  ttlSeconds: number;
  urgency: 'very-low' | 'low' | 'normal' | 'high';
  /** Replaces an undelivered push with the same topic (RFC 8030 §5.4). */
  topic?: string;
}

export type PushOutcome =
  | { ok: true; status: number }
  /** `gone`: 404 or 410, the subscription no longer exists (RFC 8030 §7.3). */
  | { ok: false; status?: number; gone: boolean; error: string };

export interface PushSenderDeps {
  vapid: VapidKey;
  /** VAPID `sub`: how a push service reaches whoever runs this device (mailto: or https:). */
  contact: string;
  timeoutMs: number;
  /** Pushes that may wait per subscription; beyond it the oldest is dropped. */
  maxQueued: number;
  /** TLS settings for talking to push services (tests trust their loopback service with it). */
  agent?: Agent;
  log: Logger;
}

interface Queued {
  message: PushMessage;
  done: (outcome: PushOutcome) => void;
}

const MAX_RESPONSE_BYTES = 4096;

interface Lane {
  queue: Queued[];
  abort?: () => void;
}

export class PushSender {
  /** By endpoint. */
  private readonly lanes = new Map<string, Lane>();
  private stopped = false;

  constructor(private readonly deps: PushSenderDeps) {}

  /** Resolves when the push service answered, failed or timed out; never rejects. */
  send(message: PushMessage): Promise<PushOutcome> {
    return new Promise((done) => {
      if (this.stopped) return done({ ok: false, gone: false, error: 'push sender stopped' });
      const endpoint = message.subscription.endpoint;
      let lane = this.lanes.get(endpoint);
      if (!lane) this.lanes.set(endpoint, (lane = { queue: [] }));
      if (lane.queue.length >= this.deps.maxQueued) {
        // The oldest waiting push is the least useful one: a ring from minutes ago.
        const dropped = lane.queue.shift()!;
        this.deps.log.warn('push queue full: the oldest waiting push is dropped', { queued: lane.queue.length });
        dropped.done({ ok: false, gone: false, error: 'dropped: too many pushes waiting' });
      }
      lane.queue.push({ message, done });
      this.pump(endpoint, lane);
    });
  }

  /** Abandons waiting and in-flight pushes. */
  stop(): void {
    this.stopped = true;
    for (const lane of this.lanes.values()) {
      for (const q of lane.queue.splice(0)) q.done({ ok: false, gone: false, error: 'push sender stopped' });
      lane.abort?.();
    }
    this.lanes.clear();
  }

  private pump(endpoint: string, lane: Lane): void {
    if (lane.abort) return;
    const next = lane.queue.shift();
    if (!next) {
      this.lanes.delete(endpoint);
      return;
    }
    lane.abort = this.deliver(next.message, (outcome) => {
      lane.abort = undefined;
      next.done(outcome);
      if (!this.stopped) this.pump(endpoint, lane);
    });
  }

  /** Starts one request; returns how to abandon it. */
  private deliver(message: PushMessage, done: (outcome: PushOutcome) => void): () => void {
    let details: ReturnType<typeof WebPush.generateRequestDetails>;
    try {
      details = webPush().generateRequestDetails({ endpoint: message.subscription.endpoint, keys: message.subscription }, message.payload, {
        vapidDetails: { subject: this.deps.contact, publicKey: this.deps.vapid.publicKey, privateKey: this.deps.vapid.privateKey },
        TTL: message.ttlSeconds,
        urgency: message.urgency,
        contentEncoding: 'aes128gcm',
        ...(message.topic ? { topic: message.topic } : {}),
      });
    } catch (err) {
      const error = `cannot build the push: ${(err as Error).message}`;
      queueMicrotask(() => done({ ok: false, gone: false, error }));
      return () => undefined;
    }
    let settled = false;
    const finish = (outcome: PushOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      done(outcome);
    };
    const req = request(details.endpoint, {
      method: details.method,
      headers: details.headers as Record<string, string | number>,
      ...(this.deps.agent ? { agent: this.deps.agent } : {}),
    });
    const abort = (): void => {
      req.destroy();
      finish({ ok: false, gone: false, error: 'abandoned' });
    };
    // One deadline for the whole exchange: connect, TLS, upload and answer (a trickling service too).
    const deadline = setTimeout(() => {
      req.destroy();
      finish({ ok: false, gone: false, error: `no answer within ${this.deps.timeoutMs} ms` });
    }, this.deps.timeoutMs);
    req.on('error', (err) => finish({ ok: false, gone: false, error: err.message }));
    req.on('response', (res) => {
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on('error', () => undefined);
      res.on('close', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) finish({ ok: true, status });
        else finish({ ok: false, status, gone: status === 404 || status === 410, error: `push service answered ${status}` });
      });
    });
    req.end(details.body ?? undefined);
    return abort;
  }
}

let loaded: typeof WebPush | undefined;

/** Loaded on the first push rather than at start: many doorbells send none for hours, and it holds ~10 MiB. */
function webPush(): typeof WebPush {
  loaded ??= createRequire(import.meta.url)('web-push') as typeof WebPush;
  return loaded;
}
