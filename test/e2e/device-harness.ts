/**
 * The doorbell's side of the phone app's protocol, built from the agent's real owner and audit
 * modules over a real SQLite file, without cameras or uploads: it answers pairing offers, sends
 * sealed notices, statuses, events and snapshots through the agent's OwnerChannel, answers asks,
 * publishes state and the signed audit head, and checks every decision with `verifyDecision`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { answerConsistencyAsk, AuditLog, parseConsistencyAsk } from '../../agent/audit/index.js';
import { iso, systemClock } from '../../agent/clock.js';
import { openMessage, sealMessage } from '../../agent/envelope/index.js';
import { newId } from '../../agent/ids.js';
import { silentLogger } from '../../agent/log.js';
import { ownerTopics, type DecisionClip, type OpenedMessage, type OwnerTopics, type SealedMessage } from '../../agent/envelope/index.js';
import { topicsFor, type Topics } from '../../agent/mqtt/index.js';
import {
  DeviceKey,
  DeviceSequence,
  Enrollment,
  NonceStore,
  OwnerChannel,
  OwnerRegistry,
  parseB64url,
  sha256Hex,
  verifyDecision,
  type DecisionVerdict,
  type OwnerFields,
  type SendOptions,
} from '../../agent/owner/index.js';
import { b64url, fromB64url, PairingWindow, type PairingStep } from '../../agent/pairing/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { MediaSource } from '../../agent/web/index.js';

export interface HarnessClip {
  id: string;
  start: string;
  end: string;
  bytes: number;
  sha256: string;
  trigger: 'ring' | 'motion';
  thumbnail: string;
}

export interface HarnessRequest {
  id: string;
  state: string;
  clips: HarnessClip[];
  uploadUrl: string;
  urlSha256: string;
  /** The notice's signed plaintext as sent: resent unchanged when a phone asks. */
  notice?: { plaintext: Uint8Array; sha256: string };
}

export interface SentMessage {
  kind: string;
  requestId?: string;
  seq: number;
  topic: string;
  ciphertext: Buffer;
}

export interface ReceivedDecision {
  envelope: { keyId: string };
  requestId: string;
  verdict: DecisionVerdict;
}

const THUMBNAIL_SOURCES = ['testsrc2=size=320x180', 'smptehdbars=size=320x180', 'mandelbrot=size=320x180'];

/** Three different real JPEG thumbnails (320×180) made by ffmpeg. */
export function makeThumbnails(dir: string): Buffer[] {
  return THUMBNAIL_SOURCES.map((source, i) => {
    const file = join(dir, `thumb-${i}.jpg`);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-frames:v', '1', '-q:v', '6', file]);
    return readFileSync(file);
  });
}

export class DeviceHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'phone-device-'));
  readonly topics: Topics;
  readonly owner: OwnerTopics;
  readonly decisions: ReceivedDecision[] = [];
  readonly pairingSteps: PairingStep[] = [];
  readonly requests = new Map<string, HarnessRequest>();
  private db: Db | undefined;
  private client: MqttClient | undefined;
  private deviceKey!: DeviceKey;
  private audit!: AuditLog;
  owners!: OwnerRegistry;
  private nonces!: NonceStore;
  private enrollment!: Enrollment;
  private channel!: OwnerChannel;
  private readonly handlers = new Map<string, (topic: string, payload: Buffer) => void>();
  private pairing!: PairingWindow;
  private readonly waiters: (() => void)[] = [];
  private reportSeq = 0;
  /** The rings this doorbell recorded, newest first, as its `/events` history lists them. */
  private readonly history: { type: string; at: string; source: string; clipId: string; thumbnail?: string }[] = [];
  /** Owner messages the channel refused unopened (not sealed, not signed...): the app must never send one. */
  readonly malformed: string[] = [];
  /** Every sealed message this doorbell sent, as it went on the broker: what an attacker there can capture and replay. */
  readonly sent: SentMessage[] = [];
  /** While set, what the doorbell publishes never reaches the broker (a broker writer dropping it) and lands here. */
  private dropped: { topic: string; payload: Buffer }[] | undefined;

  constructor(
    private readonly opts: { brokerUrl: string; login?: { username?: string; password?: string }; prefix: string; deviceId: string; thumbnails: Buffer[] },
  ) {
    this.topics = topicsFor(opts.prefix, opts.deviceId);
    this.owner = ownerTopics(opts.prefix, opts.deviceId);
  }

  get devicePublicKey(): string {
    return this.deviceKey.publicKey;
  }

  async start(): Promise<void> {
    const log = silentLogger;
    const clock = systemClock;
    const db = openDatabase(join(this.dir, 'doorbell.db'));
    this.db = db;
    this.deviceKey = new DeviceKey({ dir: this.dir, log });
    await this.deviceKey.start();
    this.audit = new AuditLog({ db, clock, log, signer: this.deviceKey });
    this.audit.start();
    this.owners = new OwnerRegistry({ db, clock, log });
    this.owners.start();
    this.nonces = new NonceStore({ db, clock, log });
    this.nonces.start();
    const client = await connectAsync(this.opts.brokerUrl, { clientId: `doorbell-${this.opts.deviceId}`, reconnectPeriod: 200, ...this.opts.login });
    this.client = client;
    this.pairing = new PairingWindow({
      clock,
      log,
      prefix: this.opts.prefix,
      device: () => ({ deviceId: this.opts.deviceId, signingKey: fromB64url(this.deviceKey.publicKey, 32), sealingRecipient: this.deviceKey.sealingRecipient }),
      publish: (topic, payload) => void client.publishAsync(topic, payload, { qos: 1 }),
      enroll: (offer) => this.enrollment.enroll(offer.name, b64url(offer.signingKey), offer.sealingRecipient, 'pairing'),
      audit: (type, data) => this.audit.append(type, data),
      refuse: (reason, data) => this.audit.appendRefusal(this.topics.pair, reason, data),
    });
    const sequence = new DeviceSequence(db);
    sequence.start();
    this.channel = new OwnerChannel({
      topics: this.owner,
      device: this.deviceKey,
      owners: this.owners,
      sequence,
      mqtt: {
        subscribe: async (filter, handler) => {
          this.handlers.set(filter, handler);
          await client.subscribeAsync(filter, { qos: 1 });
        },
        publishReliable: (topic, payload) => {
          if (this.dropped) this.dropped.push({ topic, payload });
          else void client.publishAsync(topic, payload, { qos: 1 });
        },
        publishLatest: async (topic, payload, opts) => {
          if (this.dropped) this.dropped.push({ topic, payload });
          else await client.publishAsync(topic, payload, { qos: opts?.qos ?? 1, retain: opts?.retain ?? false });
        },
      },
      refuse: (topic, reason) => {
        this.malformed.push(reason);
        this.audit.appendRefusal(topic, reason, {});
      },
      clock,
      log,
    });
    this.channel.on('decision', (m) => this.onDecision(m));
    this.channel.on('ask', (m) => this.onAsk(m));
    this.channel.on('report-ask', () => undefined);
    this.enrollment = new Enrollment({
      owners: this.owners,
      audit: this.audit,
      device: this.deviceKey.publicKeys,
      announce: (body) => this.send(body),
    });
    this.audit.onAppend(() => void this.publishHead());
    client.on('message', (topic, payload) => {
      if (topic === this.topics.pair) this.onPairingOffer(payload);
      else if (topic === this.topics.auditAsk) {
        void client.publishAsync(this.topics.auditProof, JSON.stringify(answerConsistencyAsk(this.audit, parseConsistencyAsk(payload))), { qos: 1 });
      } else {
        this.handlers.get(topic)?.(topic, payload);
        // The transparency report's ask is answered by its own code, beside the owner channel.
        if (topic === this.owner.in) void this.onReportAsk(payload);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    await client.subscribeAsync([this.topics.pair, this.topics.auditAsk], { qos: 1 });
    await this.channel.start();
    await this.publishState();
    await this.publishHead();
  }

  async stop(): Promise<void> {
    this.pairing?.stop();
    this.nonces?.stop();
    this.audit?.stop();
    await this.client?.endAsync(true);
    this.db?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** What a long press does: a fresh 10-digit code for 120 s. */
  openPairing(): string {
    return this.pairing.open().code;
  }

  /** A pending request with `clipCount` clips, published as a retained notice and a pending status. */
  async publishRequest(opts: { requester: string; kind: string; caseNumber?: string; reason: string; clipCount?: number }): Promise<HarnessRequest> {
    const now = Date.now();
    const id = `rfa-${newId(now).slice(-8).toLowerCase()}`;
    const uploadUrl = `https://evidence.example/put/${id}?X-Sig=${randomBytes(8).toString('hex')}`;
    const clips = Array.from({ length: opts.clipCount ?? 3 }, (_, i): HarnessClip => {
      const start = now - (40 - i * 10) * 60_000;
      return {
        id: newId(start),
        start: iso(start),
        end: iso(start + (20 + i * 5) * 1000),
        bytes: 2_400_000 + i * 350_000,
        sha256: randomBytes(32).toString('hex'),
        trigger: i === 1 ? 'motion' : 'ring',
        thumbnail: `data:image/jpeg;base64,${this.opts.thumbnails[i % this.opts.thumbnails.length]!.toString('base64')}`,
      };
    });
    const request: HarnessRequest = { id, state: 'pending', clips, uploadUrl, urlSha256: sha256Hex(uploadUrl) };
    this.requests.set(id, request);
    const notice = {
      kind: 'notice',
      requestId: id,
      receivedAt: iso(now),
      requester: { name: opts.requester, kind: opts.kind, ...(opts.caseNumber ? { caseNumber: opts.caseNumber } : {}) },
      reason: opts.reason,
      window: { from: iso(now - 45 * 60_000), to: iso(now - 5 * 60_000) },
      destination: { scheme: 'https', host: 'evidence.example', path: `/put/${id}`, urlSha256: request.urlSha256 },
      receiptTo: null,
      clips,
      expiresAt: iso(now + 3 * 24 * 3600_000),
    };
    this.audit.append('notice', { requestId: id });
    // Known as sent before anything after it is sealed: an answer to an ask with a later seq lists it.
    await this.send(notice, { sealed: (sent) => (request.notice = { plaintext: sent.plaintext, sha256: sent.sha256 }) });
    await this.publishStatus(id, 'pending', 'waiting for the owner');
    await this.publishState();
    return request;
  }

  async ring(): Promise<void> {
    const at = iso(Date.now());
    const clipId = newId();
    this.history.unshift({ type: 'ring', at, source: 'button', clipId, thumbnail: `data:image/jpeg;base64,${this.opts.thumbnails[0]!.toString('base64')}` });
    await this.send({ kind: 'event', type: 'ring', at, source: 'button', clipId });
    await this.send({ kind: 'snapshot', jpeg: this.opts.thumbnails[0]!.toString('base64') }, { snapshot: true });
  }

  /**
   * The doorbell's sealed media endpoints as the agent wires them (agent/main.ts): owner tokens are
   * checked against this harness's enrolled owners, `/events` lists its rings; it holds no clips.
   */
  media(): MediaSource {
    return new MediaSource({
      deviceId: this.opts.deviceId,
      owner: (keyId) => {
        const key = this.owners.activeKey(keyId);
        const signingKey = key && parseB64url(key.publicKey);
        return key?.sealingRecipient && signingKey ? { signingKey, sealingRecipient: key.sealingRecipient } : undefined;
      },
      clipFile: () => undefined,
      snapshot: async () => this.opts.thumbnails[0],
      recentEvents: () => this.history,
      refuse: (reason, data) => this.audit.appendRefusal('web:media', reason, data),
      now: () => Date.now(),
      log: silentLogger,
    });
  }

  /**
   * What a broker writer does: the messages the doorbell publishes while `work` runs are dropped
   * on the way (nobody receives them) and handed to the attacker, who may put them anywhere later.
   */
  async dropping(work: () => Promise<unknown>): Promise<{ topic: string; payload: Buffer }[]> {
    const dropped: { topic: string; payload: Buffer }[] = [];
    this.dropped = dropped;
    try {
      await work();
    } finally {
      this.dropped = undefined;
    }
    return dropped;
  }

  /** Resolves with the next decision for `requestId` (or one already received). */
  async waitForDecision(requestId: string, timeoutMs = 15_000): Promise<ReceivedDecision> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.decisions.find((d) => d.requestId === requestId);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no decision for ${requestId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private onPairingOffer(payload: Buffer): void {
    this.pairingSteps.push(this.pairing.handle(payload));
  }

  /** What owner-sync.ts does: the pending list for this nonce, each notice unchanged, each status. */
  private async onAsk(m: OpenedMessage): Promise<void> {
    let pending: HarnessRequest[] = [];
    await this.send(() => {
      pending = [...this.requests.values()].filter((r) => r.state === 'pending' && r.notice);
      return { kind: 'pending', re: m.body.nonce ?? null, requests: pending.map((r) => ({ requestId: r.id, noticeSha256: r.notice!.sha256 })) };
    });
    for (const r of pending) await this.channel.resend(r.notice!.plaintext);
    for (const r of this.requests.values()) await this.publishStatus(r.id, r.state, 'as of now');
  }

  /** The checks and consequences of RequestService, minus the real upload: progress, then uploaded. */
  private onDecision(m: OpenedMessage): void {
    const verdict = verifyDecision(m.body, {
      deviceId: this.opts.deviceId,
      now: Date.now(),
      request: (id) => {
        const r = this.requests.get(id);
        return (
          r && { state: r.state, clips: r.clips.map((c): DecisionClip => ({ id: c.id, sha256: c.sha256 })), urlSha256: r.urlSha256, noticeSha256: r.notice?.sha256 }
        );
      },
      nonceSeen: (nonce) => this.nonces.seen(nonce),
    });
    const requestId = verdict.ok ? verdict.decision.requestId : String(m.body.requestId);
    this.decisions.push({ envelope: { keyId: m.keyId }, requestId, verdict });
    if (!verdict.ok) {
      this.audit.appendRefusal(this.owner.in, verdict.reason, {});
      if (verdict.requestId && this.requests.has(verdict.requestId)) {
        void this.publishStatus(verdict.requestId, 'pending', `decision refused: ${verdict.reason}`);
      }
      return;
    }
    const d = verdict.decision;
    this.nonces.remember(d.nonce, Date.parse(d.expiresAt));
    this.audit.append('decision', { requestId: d.requestId, decision: d.decision, keyId: m.keyId });
    if (d.decision === 'cancel') return; // no uploads to stop on this simulated device
    void this.carryOut(d.requestId, d.decision, d.clips.map((c) => c.id));
  }

  private async carryOut(requestId: string, decision: 'approve' | 'deny', clipIds: string[]): Promise<void> {
    const request = this.requests.get(requestId)!;
    if (decision === 'deny') {
      request.state = 'denied';
      await this.publishStatus(requestId, 'denied', 'denied by the owner');
      return;
    }
    request.state = 'approved';
    await this.publishStatus(requestId, 'approved', `approved: ${clipIds.length} clip(s)`);
    const total = request.clips.filter((c) => clipIds.includes(c.id)).reduce((sum, c) => sum + c.bytes + 2048, 2048);
    request.state = 'uploading';
    await this.publishStatus(requestId, 'uploading', 'sending', { sentBytes: Math.round(total * 0.4), totalBytes: total });
    // The harness stays in `uploading` until the test says the upload finished, so the progress bar can be seen.
  }

  /** What the device does when nobody decided in time: state expired, notice cleared. */
  async expire(requestId: string): Promise<void> {
    this.requests.get(requestId)!.state = 'expired';
    await this.publishStatus(requestId, 'expired', 'nobody decided before the request expired');
  }

  async finishUpload(requestId: string): Promise<void> {
    const request = this.requests.get(requestId)!;
    request.state = 'uploaded';
    this.audit.append('closed', { requestId, state: 'uploaded' });
    await this.publishStatus(requestId, 'uploaded', 'evidence bundle delivered');
    await this.publishState();
  }

  /** Signs and seals through the agent's OwnerChannel, and remembers what went out. */
  private async send(fields: OwnerFields, opts: SendOptions = {}): Promise<SealedMessage | undefined> {
    const sealed = await this.channel.send(fields, opts);
    if (sealed) {
      const body = JSON.parse(new TextDecoder().decode(sealed.plaintext.subarray(sealed.plaintext.indexOf(0x0a) + 1))) as { kind: string; seq: number; requestId?: string };
      this.sent.push({
        kind: body.kind,
        ...(body.requestId ? { requestId: body.requestId } : {}),
        seq: body.seq,
        topic: opts.snapshot ? this.owner.snapshot : this.owner.out,
        ciphertext: Buffer.from(sealed.ciphertext),
      });
    }
    return sealed;
  }

  private async publishStatus(id: string, state: string, detail: string, progress?: { sentBytes: number; totalBytes: number }): Promise<void> {
    await this.send({ kind: 'status', requestId: id, state, detail, ...(progress ? { progress } : {}) });
  }

  private async publishState(): Promise<void> {
    const state = {
      v: 2,
      online: true,
      version: '0.1.0',
      startedAt: iso(Date.now() - 3600_000),
      camera: { ok: true, source: 'rtsp', since: iso(Date.now() - 3600_000) },
      storage: { usedBytes: 3_200_000_000, capBytes: 16_000_000_000, clips: 412 },
    };
    await this.client!.publishAsync(this.topics.state, JSON.stringify(state), { qos: 1, retain: true });
  }

  /** Answers a sealed `report-ask` from an enrolled owner with the sealed `report`, as the agent's AuditProofService does. */
  private async onReportAsk(payload: Buffer): Promise<void> {
    const t = ownerTopics(this.opts.prefix, this.opts.deviceId);
    const message = await openMessage(payload, t.in, {
      identities: [this.deviceKey.identity],
      keyFor: (keyId) => {
        const key = this.owners.activeKey(keyId);
        return key ? parseB64url(key.publicKey) : undefined;
      },
    });
    if (message.kind !== 'report-ask') return;
    const body = { v: 2 as const, kind: 'report', at: new Date().toISOString(), seq: ++this.reportSeq, report: this.audit.report() as unknown as Record<string, unknown> };
    const sealed = await sealMessage(this.deviceKey.signer, t.out, body, this.owners.sealingRecipients());
    await this.client?.publishAsync(t.out, Buffer.from(sealed.ciphertext), { qos: 1 });
  }

  /** Appends `count` entries to the audit log (each publishes the new checkpoint, as the harness does). */
  appendAudit(count: number): void {
    for (let i = 0; i < count; i++) this.audit.append('test-entry', { i });
  }

  /**
   * What an attacker holding the database file does: edits audit_log behind dropped triggers (rows
   * may be inserted with any hash), lets the device rebuild its tree from what is left, and publishes
   * the checkpoint it now signs.
   */
  async tamperAudit(edit: (db: Db) => void): Promise<void> {
    const db = this.db!;
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete');
    edit(db);
    db.exec('DELETE FROM audit_tree');
    this.audit.start();
    await this.publishHead();
  }

  private async publishHead(): Promise<void> {
    await this.client?.publishAsync(this.topics.transparency, JSON.stringify({ v: 2, checkpoint: this.audit.checkpoint() }), { qos: 1, retain: true });
  }
}
