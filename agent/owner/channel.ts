/**
 * The device's end of the owner channel (protocol.md "Owner channel"). Everything it tells owners is
 * signed by the device with the topic inside the signed bytes and sealed to every enrolled,
 * unrevoked owner; everything it accepts from owners must be sealed to the device and signed by an
 * enrolled, unrevoked owner key. Messages are sealed one at a time, so they leave in `seq` order.
 */
import { iso, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import {
  EnvelopeError,
  MAX_SEALED_BYTES,
  openMessage,
  resealPlaintext,
  sealMessage,
  type Json,
  type OpenedMessage,
  type OwnerTopics,
  type SealedMessage,
} from '../envelope/index.js';
import { x25519Recipient } from './age-x25519.js';
import { parseB64url, verifyEd25519 } from './crypto.js';
import type { DeviceKey } from './device-key.js';
import type { OwnerRegistry } from './registry.js';
import type { DeviceSequence } from './sequence.js';

/** An owner's message is at most this large (decisions list at most 500 clips). */
export const MAX_INBOUND_BYTES = 64 * 1024;
/** Owners' messages being opened at once; beyond this a flood is refused (and counted) unopened. */
const MAX_OPENING = 64;

export interface ChannelMessaging {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  /** Through the outbox: survives an outage and a restart. */
  publishReliable(topic: string, payload: Buffer, opts?: { retain?: boolean }): void;
  /** Best effort: superseded by the next one. */
  publishLatest(topic: string, payload: Buffer, opts?: { qos?: 0 | 1; retain?: boolean; afterReliable?: boolean }): Promise<void>;
}

export interface OwnerChannelDeps {
  topics: OwnerTopics;
  device: DeviceKey;
  owners: OwnerRegistry;
  sequence: DeviceSequence;
  mqtt: ChannelMessaging;
  /** Writes a refused inbound message to the audit log (bursts are folded there). */
  refuse(topic: string, reason: string, data: Record<string, unknown>): void;
  clock: Clock;
  log: Logger;
}

export type InboundHandler = (message: OpenedMessage) => void | Promise<void>;

export interface SendOptions {
  /** The retained snapshot topic instead of the common one. */
  snapshot?: boolean;
  /** Progress: dropped while offline instead of queued. */
  latest?: boolean;
  /** Runs once the message is sealed and queued, before any later message is sealed: what it records, every later message sees. */
  sealed?: (message: SealedMessage) => void;
}

/** A message's fields, or a function that gives them when the message takes its `seq`. */
export type OwnerFields = (Json & { kind: string }) | (() => Json & { kind: string });

export class OwnerChannel {
  private sealing: Promise<unknown> = Promise.resolve();
  private readonly handlers = new Map<string, InboundHandler>();
  private opening = 0;

  constructor(private readonly deps: OwnerChannelDeps) {}

  /** Where owners' messages arrive (refusals are audited under this topic). */
  get inTopic(): string {
    return this.deps.topics.in;
  }

  async start(): Promise<void> {
    await this.deps.mqtt.subscribe(this.deps.topics.in, (topic, payload) => {
      if (this.opening >= MAX_OPENING) {
        this.deps.refuse(topic, 'overloaded', { detail: `more than ${MAX_OPENING} owner messages being opened` });
        return;
      }
      this.opening++;
      this.receive(topic, payload)
        .catch((err: Error) => this.deps.log.error('owner message handling failed', { error: err.message }))
        .finally(() => this.opening--);
    });
  }

  /** What to do with an owner's message of this kind (`ask`, `decision`). */
  on(kind: string, handler: InboundHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * Signs and seals `fields` as a new message with the next `seq`. Resolves to what was sent, or
   * undefined when no owner can read it (none enrolled) and nothing was sent. Fields given as a
   * function are read when the message takes its `seq`: after every earlier message was sealed.
   */
  send(fields: OwnerFields, opts: SendOptions = {}): Promise<SealedMessage | undefined> {
    return this.serially(async () => {
      const recipients = this.deps.owners.sealingRecipients().map(x25519Recipient);
      if (recipients.length === 0) return undefined;
      const topic = opts.snapshot ? this.deps.topics.snapshot : this.deps.topics.out;
      const f = typeof fields === 'function' ? fields() : fields;
      const body = { v: 2 as const, ...f, kind: f.kind, at: iso(this.deps.clock.now()), seq: this.deps.sequence.take() };
      const sealed = await sealMessage(this.deps.device.signer, topic, body, recipients);
      this.publish(topic, sealed, opts);
      opts.sealed?.(sealed);
      return sealed;
    });
  }

  /** The same signed plaintext again, sealed to today's owners: a resent notice keeps its hash. */
  resend(plaintext: Uint8Array): Promise<void> {
    return this.serially(async () => {
      const recipients = this.deps.owners.sealingRecipients().map(x25519Recipient);
      if (recipients.length === 0) return;
      this.publish(this.deps.topics.out, await resealPlaintext(plaintext, recipients), {});
    });
  }

  private publish(topic: string, sealed: SealedMessage, opts: SendOptions): void {
    const payload = Buffer.from(sealed.ciphertext);
    if (opts.snapshot) {
      void this.deps.mqtt.publishLatest(topic, payload, { qos: 0, retain: true }).catch((err: Error) =>
        this.deps.log.debug('snapshot not sent', { error: err.message }),
      );
    } else if (opts.latest) {
      // Progress waits behind queued state changes: `uploading` never reaches owners before `approved`.
      void this.deps.mqtt
        .publishLatest(topic, payload, { afterReliable: true })
        .catch((err: Error) => this.deps.log.debug('progress not sent', { error: err.message }));
    } else {
      this.deps.mqtt.publishReliable(topic, payload);
    }
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.sealing.then(work);
    // One failure (a full disk in the outbox) must not stop every later message.
    this.sealing = next.catch((err: Error) => this.deps.log.error('a sealed message could not be sent', { error: err.message }));
    return next;
  }

  private async receive(topic: string, payload: Buffer): Promise<void> {
    let signer: string | undefined;
    let message: OpenedMessage;
    try {
      message = await openMessage(payload, topic, {
        identities: [this.deps.device.identity],
        maxBytes: Math.min(MAX_INBOUND_BYTES, MAX_SEALED_BYTES),
        keyFor: (keyId) => {
          signer = keyId;
          const key = this.deps.owners.activeKey(keyId);
          return key ? parseB64url(key.publicKey) : undefined;
        },
        verify: verifyEd25519,
      });
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      const revoked = err.reason === 'unknown-signer' && signer !== undefined && this.deps.owners.keyStatus(signer) === 'revoked';
      this.deps.refuse(topic, revoked ? 'revoked-key' : err.reason, {
        ...(signer ? { keyId: signer } : {}),
        ...(err.reason === 'too-large' ? { bytes: payload.length } : {}),
      });
      return;
    }
    const handler = this.handlers.get(message.kind);
    if (!handler) {
      this.deps.refuse(topic, 'unknown-kind', { keyId: message.keyId, kind: message.kind });
      return;
    }
    await handler(message);
  }
}
