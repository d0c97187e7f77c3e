/** The app's controller: loads what the phone kept, talks to the doorbell, and carries out the owner's actions. */
import { fetchSealedMedia } from './media.js';
import { DEFAULT_PUSH_CHOICE, sendPushChoice, type PushChoice } from './push.js';
import type { MediaResource } from '../media-token.js';
import {
  brokerPassword,
  decisionRefusal,
  isTerminal,
  OwnerInbox,
  parseEnrollment,
  parseEvent,
  parseSnapshot,
  parseStatus,
  resendWhileUnanswered,
  sealMessage,
  type OpenedMessage,
} from '../../envelope/index.js';
import { decisionFor, sealDecision } from './decision.js';
import { b64urlEncode, fromUtf8, randomBytes } from './encoding.js';
import { RequestHistory } from './history.js';
import { fingerprint, ownerKey, sealingIdentity, type OwnerKey, type StoredOwnerKeys, type StoredSealingKey } from './keys.js';
import { Model, type PairingRecord, type Refusal } from './model.js';
import { BrokerConnection } from './mqtt-client.js';
import { isValidOwnerName, normalizeCode, pairWithDoorbell, PairingFailure } from './pairing.js';
import { isRefusal, parseMessage, parseState, topicsFor, type Topics } from './protocol.js';
import {
  fetchServedConfig,
  linkOverrides,
  mergeSettings,
  saveOverrides,
  settingsProblem,
  storedOverrides,
  type ConnectionSettings,
  type SettingsOverrides,
} from './settings.js';
import { KeyValueStore } from './storage.js';
import { openReport, reportAsk, reportTopics } from './report.js';
import { checkCheckpoint, checkConsistencyProof, parseCheckpointMessage, parseProofAnswer, type CheckpointVerdict, type KeptCheckpoint } from './transparency.js';

const MAX_EVENTS = 20;
const MAX_REFUSALS = 20;
/** Unanswered this long, an ask is sent again. */
const ASK_AGAIN_MS = 10_000;

interface SavedOwner {
  keys: StoredOwnerKeys;
  pairing: PairingRecord;
}

export class App {
  readonly model = new Model();
  private store!: KeyValueStore;
  private history: RequestHistory | undefined;
  private connection: BrokerConnection | undefined;
  private topics: Topics | undefined;
  private key: OwnerKey | undefined;
  /** This phone's sealing key: what the device seals to it opens with this (age Decrypter.addIdentity). */
  private sealing: StoredSealingKey | undefined;
  /** What the device said, opened and checked by the shared envelope module (as the CLI does). */
  private inbox: OwnerInbox | undefined;
  private askAgain: ReturnType<typeof setTimeout> | undefined;
  private readonly deciding = new Set<string>();

  async start(): Promise<void> {
    this.store = await KeyValueStore.open();
    const link = linkOverrides(location.hash);
    if (link) {
      await saveOverrides(this.store, { ...(await storedOverrides(this.store)), ...link });
      history.replaceState(null, '', `${location.pathname}${location.search}`);
    }
    await this.applySettings();
  }

  get historyEntries(): RequestHistory | undefined {
    return this.history;
  }

  /** This phone's sealing key, for opening what the doorbell seals to it. */
  get sealingKey(): StoredSealingKey | undefined {
    return this.sealing;
  }

  /** A clip or the latest snapshot, opened on this phone (media.ts); throws with a reason a person can read. */
  async watch(resource: MediaResource): Promise<Blob> {
    const deviceId = this.model.settings.deviceId;
    if (!this.key || !this.sealing || !deviceId) throw new Error('pair this phone with the doorbell first');
    return fetchSealedMedia(this.key, this.sealing, deviceId, resource);
  }

  /**
   * The doorbell's own record of recent rings and motion, with thumbnails, sealed to this phone
   * (events published while the phone was away never reach it over MQTT); kept across reloads.
   */
  async refreshEvents(): Promise<void> {
    const blob = await this.watch('events');
    const json = JSON.parse(await blob.text()) as { events?: unknown };
    const fetched = (Array.isArray(json.events) ? json.events : []).flatMap((e: unknown) => {
      try {
        // The doorbell's history lists events as the sealed channel carries them, without the message kind.
        const event = parseEvent({ kind: 'event', ...(e as Record<string, unknown>) });
        const thumb = (e as { thumbnail?: unknown }).thumbnail;
        return [typeof thumb === 'string' && /^data:image\/jpeg;base64,[A-Za-z0-9+/=]+$/.test(thumb) ? { ...event, thumbnail: thumb } : event];
      } catch {
        // One malformed entry is left out; the rest still shows.
        return [];
      }
    });
    const m = this.model;
    const key = (e: { type: string; at: string }): string => `${e.type}@${e.at}`;
    const byKey = new Map(m.doorbell.events.map((e) => [key(e), e]));
    for (const e of fetched) byKey.set(key(e), { ...byKey.get(key(e)), ...e });
    m.doorbell.events = [...byKey.values()].sort((a, b) => b.at.localeCompare(a.at)).slice(0, MAX_EVENTS);
    m.emit('doorbell');
    await this.store.put(`events:${this.scope()}`, m.doorbell.events);
  }

  /** What this phone asked the doorbell to notify it of (kept per doorbell). */
  async pushChoice(): Promise<PushChoice> {
    return (await this.store.get<PushChoice>(`push:${this.scope()}`)) ?? DEFAULT_PUSH_CHOICE;
  }

  /** Subscribes (or unsubscribes) this phone and tells the doorbell, sealed; kept once the doorbell was told. */
  async setPushChoice(choice: PushChoice): Promise<void> {
    const pairing = this.model.pairing;
    const s = this.model.settings;
    const connection = this.connection;
    if (!this.key || !pairing || !connection || !s.deviceId || !s.prefix) throw new Error('pair this phone with the doorbell first');
    await sendPushChoice(
      { key: this.key, deviceId: s.deviceId, prefix: s.prefix, deviceSealingRecipient: pairing.deviceSealingRecipient, publish: (topic, payload) => connection.publish(topic, payload) },
      choice,
    );
    await this.store.put(`push:${this.scope()}`, choice);
  }

  get keyKind(): string | undefined {
    return this.key?.kind;
  }

  isDeciding(requestId: string): boolean {
    return this.deciding.has(requestId);
  }

  async saveSettings(overrides: SettingsOverrides): Promise<void> {
    await saveOverrides(this.store, overrides);
    await this.applySettings();
  }

  async resetSettings(): Promise<void> {
    await this.store.delete('settings');
    await this.applySettings();
  }

  /** Pairs with fresh keys through the code the doorbell shows (protocol.md "Pairing"). */
  async pair(typedCode: string, name: string): Promise<void> {
    const m = this.model;
    const fail = (detail: string): void => {
      m.attempt = { state: 'failed', detail };
      m.emit('pairing');
    };
    const code = normalizeCode(typedCode);
    if (!code) return fail('Type the 10-digit code the doorbell shows (or the 16-digit setup code of a new install).');
    if (!isValidOwnerName(name)) return fail('Give this phone a name of 1 to 64 characters.');
    const s = m.settings;
    if (!this.connection?.ready || !this.topics || !s.brokerWsUrl || !s.deviceId || !s.prefix) {
      return fail('Not connected to the doorbell yet; try again when the status says Connected.');
    }
    m.attempt = { state: 'waiting' };
    m.emit('pairing');
    const broker = { url: s.brokerWsUrl, ...(s.username ? { username: s.username } : {}), ...(s.password ? { password: s.password } : {}) };
    let paired;
    try {
      paired = await pairWithDoorbell({ broker, prefix: s.prefix, deviceId: s.deviceId, pairTopic: this.topics.pair }, code, name, (keyId) => {
        m.attempt = { state: 'waiting', keyId };
        m.emit('pairing');
      });
    } catch (err) {
      if (err instanceof PairingFailure && err.kind === 'wrong-code') m.attempt = { state: 'refused', detail: err.message };
      else m.attempt = { state: 'failed', detail: (err as Error).message };
      m.emit('pairing');
      return;
    }
    // Ask the browser not to evict this site's storage: it holds the only copy of the keys.
    navigator.storage?.persist?.().catch((err: Error) => console.warn('persistent storage not granted', err.message));
    const pairing: PairingRecord = {
      keyId: paired.keyId,
      name,
      pairedAt: new Date().toISOString(),
      devicePublicKey: paired.device.signingKey,
      deviceKeyId: paired.device.keyId,
      deviceSealingRecipient: paired.device.sealingRecipient,
    };
    await this.store.put(this.ownerStoreKey(), { keys: paired.keys, pairing } satisfies SavedOwner);
    this.key = await ownerKey(paired.keys.signing);
    this.sealing = paired.keys.sealing;
    m.pairing = pairing;
    m.attempt = undefined;
    m.emit('pairing');
    // Log in again with the new key: the broker gives an owner the sealed topics, and the device answers its asks.
    await this.applySettings();
  }

  /** Signs the decision on the device-signed notice that is shown, seals it to the device, and sends it. */
  async decide(requestId: string, decision: 'approve' | 'deny'): Promise<void> {
    const m = this.model;
    const shown = this.inbox?.shown(requestId);
    m.decisionErrors.delete(requestId);
    this.deciding.add(requestId);
    m.emit('decision');
    try {
      if (!shown) throw new Error('this request is no longer waiting for a decision');
      const recipient = m.pairing?.deviceSealingRecipient;
      if (!this.key || !this.topics || !this.connection || !recipient) throw new Error('pair this phone with the doorbell first');
      const body = decisionFor(m.settings.deviceId!, shown, decision, m.selection(requestId));
      const sealed = await sealDecision(this.key, this.topics.in, body, recipient);
      const clipIds = body.clips.map((c) => c.id);
      // Marked sent before publishing: the device's refusal can arrive before our publish is acknowledged.
      m.sent.set(requestId, { decision, at: body.at, clipIds });
      const statusBefore = m.statuses.get(requestId);
      const connection = this.connection;
      const topic = this.topics.in;
      try {
        await connection.publish(topic, sealed);
      } catch (err) {
        m.sent.delete(requestId);
        throw err;
      }
      resendWhileUnanswered({
        send: () => connection.publish(topic, sealed),
        answered: () => m.statuses.get(requestId) !== statusBefore,
        onSendError: (err) => console.warn('could not send the decision again', err),
      });
      this.history?.recordDecision(requestId, decision, clipIds, body.at);
      await this.history?.save();
      m.emit('history');
    } catch (err) {
      m.decisionErrors.set(requestId, (err as Error).message);
    } finally {
      this.deciding.delete(requestId);
      m.emit('decision');
    }
  }

  /** Forgets the key and pairing here; the doorbell keeps the key until `doorbell owner revoke`. */
  async forgetDoorbell(): Promise<void> {
    await this.store.delete(this.ownerStoreKey());
    this.key = undefined;
    this.sealing = undefined;
    this.model.pairing = undefined;
    this.model.emit('pairing');
  }

  private async applySettings(): Promise<void> {
    const m = this.model;
    await this.connection?.stop();
    this.connection = undefined;
    const settings = mergeSettings(await fetchServedConfig(), await storedOverrides(this.store));
    m.settings = settings;
    m.settingsProblem = settingsProblem(settings, location.protocol);
    m.notices.clear();
    m.statuses.clear();
    m.synced = false;
    clearTimeout(this.askAgain);
    Object.assign(m.doorbell, { state: undefined, snapshot: undefined, checkpoint: undefined, checkpointVerdict: undefined, events: [] });
    await this.loadOwner();
    m.emit('settings');
    if (m.settingsProblem) return;
    const s = settings as ConnectionSettings;
    this.topics = topicsFor(s.prefix, s.deviceId);
    this.history = new RequestHistory(this.store, `history:${this.scope()}`);
    await this.history.load();
    m.doorbell.events = (await this.store.get<typeof m.doorbell.events>(`events:${this.scope()}`)) ?? [];
    m.refusals = (await this.store.get<Refusal[]>(`refusals:${this.scope()}`)) ?? [];
    m.listeningSince = new Date().toISOString();
    m.emit('history');
    m.emit('doorbell');
    const t = this.topics;
    const pairing = m.pairing;
    this.inbox =
      pairing && this.sealing
        ? new OwnerInbox({
            identities: [sealingIdentity(this.sealing)],
            device: { keyId: pairing.deviceKeyId, signingKey: pairing.devicePublicKey },
            topics: [t.out, t.snapshot],
            seen: (await this.store.get<Record<string, number>>(`seen:${this.scope()}`)) ?? {},
          })
        : undefined;
    const key = this.key;
    // A paired phone logs in with its key (the broker's owner role); before pairing it is anonymous.
    const login =
      key && !s.username
        ? { username: b64urlEncode(key.publicKeyRaw), password: (clientId: string) => brokerPassword(key, b64urlEncode(key.publicKeyRaw), clientId, Date.now()) }
        : undefined;
    this.connection = new BrokerConnection(
      { url: s.brokerWsUrl, ...(s.username ? { username: s.username } : {}), ...(s.password ? { password: s.password } : {}), ...(login ? { login } : {}) },
      // Before pairing there is nothing to read: the broker lets an anonymous client only send (the pairing offer).
      pairing ? [t.state, t.out, t.snapshot, t.transparency, t.auditProof] : [],
      {
        state: (state, detail) => {
          m.connection = { state, detail };
          m.emit('connection');
          // Subscribed: ask the device what waits, instead of trusting whatever is retained.
          if (state === 'connected') this.ask().catch((err: Error) => console.warn(`could not ask the doorbell: ${err.message}`));
        },
        session: () => undefined,
        message: (topic, payload) => {
          this.onMessage(topic, payload).catch((err: Error) => console.warn(`ignored a message on ${topic}: ${err.message}`));
        },
      },
    );
    this.connection.start().catch((err: Error) => {
      m.connection = { state: 'offline', detail: err.message };
      m.emit('connection');
    });
  }

  /** A sealed, signed ask: the device answers with what is pending, bound to this nonce. */
  private async ask(): Promise<void> {
    const recipient = this.model.pairing?.deviceSealingRecipient;
    if (!this.key || !this.topics || !this.connection || !recipient) return;
    const nonce = b64urlEncode(randomBytes(16));
    this.inbox?.asking(nonce);
    const sealed = await sealMessage(this.key, this.topics.in, { v: 2, kind: 'ask', at: new Date().toISOString(), nonce }, [recipient]);
    // An ask or its answer lost on the way (a broker restarting) must not leave the inbox unsynced for good.
    clearTimeout(this.askAgain);
    this.askAgain = setTimeout(() => {
      if (!this.model.synced && this.connection?.ready) this.ask().catch((err: Error) => console.warn(`could not ask the doorbell: ${err.message}`));
    }, ASK_AGAIN_MS);
    await this.connection.publish(this.topics.in, sealed.ciphertext);
  }

  private async loadOwner(): Promise<void> {
    const saved = await this.store.get<SavedOwner>(this.ownerStoreKey());
    this.key = saved ? await ownerKey(saved.keys.signing) : undefined;
    this.sealing = saved?.keys.sealing;
    this.model.pairing = saved?.pairing;
    this.model.attempt = undefined;
  }

  /** Asks the doorbell, on the sealed owner channel, for its transparency report. */
  async requestReport(): Promise<void> {
    const recipient = this.model.pairing?.deviceSealingRecipient;
    if (!this.key || !this.connection || !recipient) return;
    await this.connection.publish(this.reportTopics().in, await reportAsk(this.key, this.reportTopics().in, recipient));
  }

  private reportTopics(): { in: string; out: string } {
    return reportTopics(this.model.settings.prefix ?? '', this.model.settings.deviceId ?? '');
  }

  private async onMessage(topic: string, payload: Uint8Array): Promise<void> {
    const t = this.topics!;
    const m = this.model;
    if (payload.length === 0) return; // a cleared retained message: nothing to show
    if (topic === t.out || topic === t.snapshot) return this.onSealed(topic, payload);
    if (topic === t.transparency) {
      m.doorbell.checkpoint = parseCheckpointMessage(fromUtf8(payload));
      return this.recheckCheckpoint();
    }
    if (topic === t.auditProof) return this.onProof(parseProofAnswer(fromUtf8(payload)));
    if (topic === t.state) {
      m.doorbell.state = parseState(parseMessage(fromUtf8(payload)));
      m.emit('doorbell');
    }
  }

  /** Only what the paired device signed for this topic, fresh, is believed; anything else is shown as refused. */
  private async onSealed(topic: string, payload: Uint8Array): Promise<void> {
    const m = this.model;
    if (!this.inbox) return;
    const received = await this.inbox.receive(topic, payload);
    if (!received.ok) return this.onRefused(received);
    await this.store.put(`seen:${this.scope()}`, this.inbox.seen());
    const message = received.message;
    switch (message.kind) {
      case 'pending':
        m.synced = this.inbox.synced;
        return this.showWaiting();
      case 'notice':
        return this.showWaiting();
      case 'status':
        return this.onStatus(message);
      case 'event':
        m.doorbell.events = [parseEvent(message.body), ...m.doorbell.events].slice(0, MAX_EVENTS);
        m.emit('doorbell');
        await this.store.put(`events:${this.scope()}`, m.doorbell.events);
        return;
      case 'snapshot':
        m.doorbell.snapshot = `data:image/jpeg;base64,${parseSnapshot(message.body).jpegBase64}`;
        m.emit('doorbell');
        return;
      case 'enrollment': {
        const news = parseEnrollment(message.body);
        if (news.revoked && news.keyId === m.pairing?.keyId) this.onRevoked();
        return;
      }
      case 'report': {
        const pairing = m.pairing;
        if (!this.sealing || !pairing) return;
        const report = await openReport(payload, topic, this.sealing, { keyId: pairing.deviceKeyId, publicKey: pairing.devicePublicKey });
        if (report) {
          m.doorbell.report = report;
          m.emit('doorbell');
        }
        return;
      }
    }
  }

  /** Says so where the owner looks (kept across reloads); refusals of one kind in a row fold into a count. */
  private async onRefused(r: { reason: string; detail: string; movedFrom?: string }): Promise<void> {
    const m = this.model;
    const at = new Date().toISOString();
    const [last, ...older] = m.refusals;
    m.refusals =
      last && last.reason === r.reason && last.movedFrom === r.movedFrom
        ? [{ ...last, at, detail: r.detail, count: last.count + 1 }, ...older]
        : [{ at, reason: r.reason, detail: r.detail, ...(r.movedFrom ? { movedFrom: r.movedFrom } : {}), count: 1 }, ...m.refusals].slice(0, MAX_REFUSALS);
    m.emit('inbox');
    m.emit('doorbell');
    await this.store.put(`refusals:${this.scope()}`, m.refusals);
  }

  /** The inbox is exactly what the device listed for our ask, plus what it sent since. */
  private async showWaiting(): Promise<void> {
    const m = this.model;
    m.notices.clear();
    for (const { notice } of this.inbox!.waiting()) {
      m.notices.set(notice.requestId, notice);
      m.seenNotices.set(notice.requestId, notice);
      if (this.history?.recordNotice(notice)) {
        m.emit('history');
        await this.history.save();
      }
    }
    m.emit('inbox');
  }

  private async onStatus(message: OpenedMessage): Promise<void> {
    const m = this.model;
    const status = parseStatus(message.body);
    const requestId = status.requestId;
    // The answer to our own resend of a decision that had arrived after all: the first one counts.
    if (decisionRefusal(status) === 'replayed-nonce') return;
    m.statuses.set(requestId, status);
    if (status.state !== 'pending' || isTerminal(status.state)) await this.showWaiting();
    // A refusal arriving after this phone sent a decision is the answer to it: let the owner try again.
    if (isRefusal(status) && m.sent.has(requestId)) {
      m.sent.delete(requestId);
      m.decisionErrors.set(requestId, `The doorbell refused this decision (${status.detail!.slice('decision refused:'.length).trim()}).`);
      m.emit('decision');
    }
    m.emit('status');
    if (this.history?.recordStatus(status)) {
      m.emit('history');
      await this.history.save();
    }
  }

  private onRevoked(): void {
    const pairing = this.model.pairing!;
    console.warn(`this phone's key ${fingerprint(pairing.keyId)} was revoked on the doorbell`);
    this.forgetDoorbell().catch((err: Error) => console.error('could not forget the revoked key', err));
    this.model.attempt = { state: 'failed', detail: 'The doorbell revoked this phone’s key. Pair again to approve requests.' };
  }

  /**
   * Checks the latest checkpoint against the newest one this phone kept (per device key: a new
   * pairing starts afresh). A broken history is remembered, so the warning survives a reload.
   */
  private async recheckCheckpoint(): Promise<void> {
    const d = this.model.doorbell;
    const deviceKey = this.model.pairing?.devicePublicKey;
    if (!d.checkpoint) return;
    const verdict = checkCheckpoint(d.checkpoint, deviceKey, await this.store.get<KeptCheckpoint>(this.auditKey('checkpoint')));
    await this.settleCheckpoint(verdict);
    if (verdict.state === 'needs-proof' && this.topics) {
      // The device answers on the proof topic; onProof checks the answer against both checkpoints.
      await this.connection?.publish(this.topics.auditAsk, JSON.stringify({ v: 2, oldSize: verdict.kept.size, newSize: verdict.checkpoint.size }));
    }
  }

  private async onProof(answer: { oldSize: number; newSize: number; proof?: string[]; error?: string }): Promise<void> {
    const verdict = this.model.doorbell.checkpointVerdict;
    if (verdict?.state !== 'needs-proof' || verdict.kept.size !== answer.oldSize || verdict.checkpoint.size !== answer.newSize) return;
    await this.settleCheckpoint(
      answer.proof
        ? checkConsistencyProof(verdict.kept, verdict.checkpoint, answer.proof)
        : { state: 'broken', reason: `the doorbell cannot prove its signed checkpoint of ${answer.newSize} entries: ${answer.error ?? 'no proof'}` },
    );
  }

  /** Keeps a verified checkpoint; remembers a broken history, so the warning survives a reload. */
  private async settleCheckpoint(verdict: CheckpointVerdict): Promise<void> {
    const deviceKey = this.model.pairing?.devicePublicKey;
    const alarm = await this.store.get<string>(this.auditKey('audit-alarm'));
    if (verdict.state === 'verified') await this.store.put(this.auditKey('checkpoint'), verdict.checkpoint);
    if (verdict.state === 'broken' && deviceKey) await this.store.put(this.auditKey('audit-alarm'), verdict.reason);
    this.model.doorbell.checkpointVerdict = alarm && verdict.state !== 'broken' ? { state: 'broken', reason: alarm } : verdict;
    this.model.emit('doorbell');
  }

  /** Per doorbell and per device key: pairing with a new key starts a new history. */
  private auditKey(what: 'checkpoint' | 'audit-alarm'): string {
    return `${what}:${this.scope()}:${this.model.pairing?.devicePublicKey ?? ''}`;
  }

  private scope(): string {
    return `${this.model.settings.prefix ?? ''}/${this.model.settings.deviceId ?? ''}`;
  }

  private ownerStoreKey(): string {
    return `owner:${this.scope()}`;
  }
}
