/**
 * The owner's end of the sealed channel for terminal tools (and tests, benchmarks): logs in with
 * the owner's key, asks the device what is pending, opens only what the device signed for the topic
 * it arrived on, refuses stale copies, and seals decisions to the device. The phone app does the
 * same with the same envelope module.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  b64url,
  brokerPassword,
  decisionRefusal,
  makeDecision,
  OwnerInbox,
  ownerTopics,
  parsePending,
  parseStatus,
  resendWhileUnanswered,
  sealMessage,
  type DecisionBody,
  type OpenedMessage,
  type OwnerTopics,
  type RequestStatus,
  type ResendOptions,
  type ShownNotice,
} from '../envelope/index.js';
import type { DevicePublicKeys, OwnerKeyFile } from '../owner/index.js';
import { X25519Identity, x25519Recipient } from '../owner/age-x25519.js';
import { sendWithoutDelay } from '../mqtt/no-delay.js';

export interface SessionOptions {
  url: string;
  prefix: string;
  deviceId: string;
  key: OwnerKeyFile;
  device: DevicePublicKeys;
  /** Reconnect after the broker went away (with a fresh login), and ask again. Off for one-shot tools. */
  reconnect?: boolean;
  /** A user and password to log in with instead of the key (an external broker with a password file). */
  login?: { username?: string | undefined; password?: string | undefined };
}

export type { ShownNotice };

/** A broker that has not acknowledged a message by then is not going to. */
const PUBLISH_ACK_MS = 20_000;

/** A decision signed and sealed once: every send of it is these bytes (its nonce makes a copy harmless). */
export interface SealedDecision {
  body: DecisionBody;
  bytes: Buffer;
}

export interface Refusal {
  topic: string;
  reason: string;
  detail: string;
}

type Listener = (message: OpenedMessage) => void;

export class OwnerSession {
  readonly topics: OwnerTopics;
  /** Messages refused, with why: forged, moved, stale or not for us. */
  readonly refusals: Refusal[] = [];
  private readonly inbox: OwnerInbox;
  private readonly listeners = new Set<Listener>();
  private readonly refusalListeners = new Set<(r: Refusal) => void>();

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: SessionOptions,
  ) {
    this.topics = ownerTopics(opts.prefix, opts.deviceId);
    this.inbox = new OwnerInbox({ identities: [new X25519Identity(opts.key.identity)], device: opts.device, topics: [this.topics.out, this.topics.snapshot] });
  }

  static async open(opts: SessionOptions): Promise<OwnerSession> {
    const clientId = `doorbell-owner-${randomBytes(4).toString('hex')}`;
    const password = (): Promise<string> => brokerPassword(opts.key.signer, opts.key.signingKey, clientId, Date.now());
    const keyLogin = !opts.login?.username;
    let client: MqttClient;
    try {
      client = sendWithoutDelay(
        await connectAsync(opts.url, {
          clientId,
          ...(keyLogin ? { username: opts.key.signingKey, password: await password() } : opts.login),
          protocolVersion: 4,
          reconnectPeriod: opts.reconnect ? 1000 : 0,
          connectTimeout: 5000,
        }),
      );
    } catch (err) {
      throw new Error(`cannot reach the broker at ${opts.url}: ${(err as Error).message}`);
    }
    const session = new OwnerSession(client, opts);
    client.on('message', (topic, payload) => void session.receive(topic, payload));
    if (opts.reconnect) {
      // The login is good for minutes only: sign a fresh one before every attempt.
      if (keyLogin) client.on('close', () => void password().then((p) => (client.options.password = p)));
      client.on('connect', () => void session.ask().catch((err: Error) => process.stderr.write(`owner: ask after reconnect failed: ${err.message}\n`)));
    }
    await client.subscribeAsync([session.topics.out, session.topics.snapshot], { qos: 1 }).catch(async (err: Error) => {
      await client.endAsync(true);
      // A broker that checks logins (the embedded one) gives the owner topics to enrolled, unrevoked keys only.
      throw new Error(`the broker refused this key the owner topics (${err.message}): is this key enrolled and not revoked? (doorbell owner list)`);
    });
    return session;
  }

  onMessage(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onRefusal(listener: (r: Refusal) => void): void {
    this.refusalListeners.add(listener);
  }

  /** Asks the device what waits for a decision; resolves once its answer to this nonce arrived. */
  async ask(timeoutMs = 15_000): Promise<string[]> {
    const nonce = b64url(randomBytes(16));
    this.inbox.asking(nonce);
    const answered = this.waitFor((m) => m.kind === 'pending' && m.body.re === nonce, timeoutMs, 'the doorbell did not answer');
    await this.send({ v: 2, kind: 'ask', at: new Date().toISOString(), nonce });
    const answer = parsePending((await answered).body);
    return answer.requests.map((r) => r.requestId);
  }

  /** The device-signed notice of a request listed in the latest answer (or newer than it). */
  waitNotice(requestId: string, timeoutMs = 15_000): Promise<ShownNotice> {
    const current = (): ShownNotice | undefined => this.inbox.shown(requestId);
    const found = current();
    if (found) return Promise.resolve(found);
    return this.waitFor(() => current() !== undefined, timeoutMs, `no device-signed notice of ${requestId}`).then(() => current()!);
  }

  /** True once the device answered an ask of this session: from then on new notices are shown. */
  get synced(): boolean {
    return this.inbox.synced;
  }

  /** The notice of `requestId` if it is waiting as far as this session knows (see waitNotice). */
  shown(requestId: string): ShownNotice | undefined {
    return this.inbox.shown(requestId);
  }

  /** Signs a decision on exactly this notice with the owner's key, seals it to the device and sends it. */
  async decide(shown: ShownNotice, decision: 'approve' | 'deny' | 'cancel', clipIds?: readonly string[], edit?: (d: DecisionBody) => DecisionBody): Promise<DecisionBody> {
    const sealed = await this.sealDecision(shown, decision, clipIds, edit);
    await this.publish(sealed.bytes);
    return sealed.body;
  }

  /** Signs a decision on exactly this notice with the owner's key and seals it to the device, once. */
  async sealDecision(
    shown: ShownNotice,
    decision: 'approve' | 'deny' | 'cancel',
    clipIds?: readonly string[],
    edit?: (d: DecisionBody) => DecisionBody,
  ): Promise<SealedDecision> {
    let body = makeDecision({
      device: this.opts.deviceId,
      notice: shown.notice,
      noticeSha256: shown.sha256,
      decision,
      ...(clipIds ? { clipIds } : {}),
      now: Date.now(),
      nonce: b64url(randomBytes(16)),
    });
    if (edit) body = edit(body);
    const sealed = await sealMessage(this.opts.key.signer, this.topics.in, body, [x25519Recipient(this.opts.device.sealingRecipient)]);
    return { body, bytes: Buffer.from(sealed.ciphertext) };
  }

  /**
   * Sends a sealed decision, and the same bytes again while no status of its request answers
   * (protocol.md "Decision"). Resolves once the first send is acknowledged; the returned function
   * stops the resending.
   */
  async sendUntilAnswered(
    sealed: SealedDecision,
    opts: Pick<ResendOptions, 'afterMs' | 'onResend' | 'onSendError' | 'onSilent'>,
  ): Promise<() => void> {
    let answered = false;
    // A plain `pending` status (the answer to our ask) says nothing about the decision.
    const off = this.statuses(sealed.body.requestId, (s) => {
      if (s.state !== 'pending' || decisionRefusal(s) !== undefined) answered = true;
    });
    try {
      await this.publish(sealed.bytes);
    } catch (err) {
      off();
      throw err;
    }
    const stop = resendWhileUnanswered({ ...opts, send: () => this.publish(sealed.bytes), answered: () => answered });
    return () => {
      stop();
      off();
    };
  }

  /** Seals any owner message to the device on `P/D/owner/in` (tests use it to send wrong ones too). */
  async send(body: { v: 2; kind: string; at: string } & Record<string, unknown>): Promise<void> {
    const sealed = await sealMessage(this.opts.key.signer, this.topics.in, body, [x25519Recipient(this.opts.device.sealingRecipient)]);
    await this.publish(Buffer.from(sealed.ciphertext));
  }

  /**
   * Resolves once the broker acknowledged; rejects when it cannot: a one-shot session's connection
   * closed first, or no acknowledgement within PUBLISH_ACK_MS (a broker that hangs).
   */
  private publish(bytes: Buffer): Promise<void> {
    const client = this.client;
    const oneShot = !this.opts.reconnect;
    if (oneShot && !client.connected) return Promise.reject(new Error(`not connected to the broker at ${this.opts.url}`));
    return new Promise((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        client.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const closed = (): void => {
        if (oneShot) settle(new Error(`the connection to the broker at ${this.opts.url} closed before it acknowledged the message`));
      };
      const timer = setTimeout(
        () => settle(new Error(`the broker at ${this.opts.url} did not acknowledge the message within ${PUBLISH_ACK_MS / 1000} s`)),
        PUBLISH_ACK_MS,
      );
      client.on('close', closed);
      client.publishAsync(this.topics.in, bytes, { qos: 1 }).then(() => settle(), (err: Error) => settle(err));
    });
  }

  statuses(requestId: string, listener: (status: RequestStatus) => void): () => void {
    return this.onMessage((m) => {
      if (m.kind !== 'status') return;
      const status = parseStatus(m.body);
      if (status.requestId === requestId) listener(status);
    });
  }

  waitFor(match: (m: OpenedMessage) => boolean, timeoutMs: number, what: string): Promise<OpenedMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${what} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const off = this.onMessage((m) => {
        if (!match(m)) return;
        clearTimeout(timer);
        off();
        resolve(m);
      });
    });
  }

  async close(): Promise<void> {
    // Gently while connected (what was sent is flushed); at once when the broker is gone, or it never ends.
    await this.client.endAsync(!this.client.connected);
  }

  private refuse(topic: string, reason: string, detail: string): void {
    const refusal = { topic, reason, detail };
    this.refusals.push(refusal);
    for (const l of this.refusalListeners) l(refusal);
  }

  private async receive(topic: string, payload: Buffer): Promise<void> {
    if (payload.length === 0) return;
    const received = await this.inbox.receive(topic, payload);
    if (!received.ok) return this.refuse(topic, received.reason, received.detail);
    for (const l of [...this.listeners]) l(received.message);
  }
}
