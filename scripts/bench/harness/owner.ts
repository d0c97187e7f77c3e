/**
 * An owner for benchmarks and chaos: keys enrolled with `doorbell owner add`, a session on the
 * sealed owner channel (agent/cli/owner-session.ts), and decisions on device-signed notices.
 */
import { OwnerSession, type ShownNotice } from '../../../agent/cli/owner-session.js';
import { newSealingIdentity } from '../../../agent/envelope/index.js';
import { b64urlEncode, generateOwnerKey, ownerKeyFrom, readDevicePublicKeys, type OwnerKeyFile, type OwnerKeyPair } from '../../../agent/owner/index.js';
import { REQUEST_DOMAIN, signEnvelope } from '../../../agent/requests/index.js';
import { runCli } from './agent-process.js';

export class Owner {
  private readonly ed = generateOwnerKey();
  private key: OwnerKeyFile | undefined;
  session: OwnerSession | undefined;

  get publicKey(): string {
    return b64urlEncode(this.ed.publicKeyRaw);
  }

  /** Enrolls through the CLI, on the database directly or through the running agent. */
  async enroll(configFile: string, name = 'bench owner'): Promise<void> {
    const { identity } = await newSealingIdentity();
    this.key = await ownerKeyFrom(this.ed.privateKey, identity);
    const r = await runCli(configFile, ['owner', 'add', '--name', name, '--key', this.publicKey, '--seal', this.key.sealingRecipient]);
    if (r.code !== 0) throw new Error(`owner add failed: ${r.stderr || r.stdout}`);
  }

  /** Logs in to the broker and (unless the agent is not up yet) asks what is pending; with `reconnect`, survives broker restarts. */
  async connect(opts: { url: string; deviceId: string; storageDir: string; reconnect?: boolean; ask?: boolean }): Promise<OwnerSession> {
    if (!this.key) throw new Error('enroll the owner first');
    const device = readDevicePublicKeys(opts.storageDir);
    if (!device) throw new Error(`no device keys in ${opts.storageDir}: start the agent first`);
    this.session = await OwnerSession.open({ url: opts.url, prefix: 'doorbell', deviceId: opts.deviceId, key: this.key, device, reconnect: opts.reconnect ?? false });
    if (opts.ask ?? true) await this.session.ask();
    return this.session;
  }

  async decide(shown: ShownNotice, decision: 'approve' | 'deny'): Promise<void> {
    if (!this.session) throw new Error('connect the owner first');
    await this.session.decide(shown, decision);
  }

  /**
   * Signs and seals a decision as the phone does, and returns what the phone would publish: a
   * benchmark publishes it itself and times the doorbell from there.
   */
  async sealDecision(shown: ShownNotice, decision: 'approve' | 'deny'): Promise<{ topic: string; bytes: Buffer }> {
    const session = this.session;
    if (!session) throw new Error('connect the owner first');
    const sealed = await session.sealDecision(shown, decision);
    return { topic: session.topics.in, bytes: sealed.bytes };
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.close();
  }
}

/** The requester of benchmarks and chaos runs: one key, its ids and its receipt topic. */
export const REQUESTER: OwnerKeyPair = generateOwnerKey();
export const RECEIPT_TOPIC = `requesters/${REQUESTER.keyId}/receipts`;

/** A request id in the requester key's namespace (docs/protocol.md "Request"). */
export function requestId(name: string): string {
  return `${REQUESTER.keyId}.${name}`;
}

/** The message a requester publishes: the payload's exact text, signed by its key. */
export function signRequest(request: unknown): string {
  return JSON.stringify({ v: 2, ...signEnvelope(REQUEST_DOMAIN, REQUESTER.privateKey, REQUESTER.publicKeyRaw, JSON.stringify(request)) });
}

/** A request payload (docs/protocol.md "Request"), asking for the last `windowMs`; `id` from requestId(). */
export function makeRequest(id: string, uploadUrl: string, windowMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    v: 2,
    id,
    requester: { name: 'Bench PD', kind: 'police', contact: 'records@bench.example', caseNumber: 'B-1' },
    reason: 'benchmark',
    window: { from: iso(now - windowMs), to: iso(now - 1) },
    upload: { url: uploadUrl, expiresAt: iso(now + 3 * 3600_000) },
    replyTo: RECEIPT_TOPIC,
    expiresAt: iso(now + 2 * 3600_000),
    ...extra,
  };
}
