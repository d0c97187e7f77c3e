/** An owner for benchmarks and chaos: a key enrolled with `doorbell owner add`, and signed decisions. */
import { b64urlEncode, generateOwnerKey, makeDecisionPayload, signDecision, type OwnerKeyPair } from '../../../agent/owner/index.js';
import { REQUEST_DOMAIN, signEnvelope } from '../../../agent/requests/index.js';
import { runCli } from './agent-process.js';

export interface NoticeLike {
  requestId: string;
  destination: { urlSha256: string };
  clips: { id: string; sha256: string }[];
}

/** A sealing recipient nobody holds the identity of: benchmarks and chaos never read sealed messages. */
const SEAL = 'age1uavld2hjtuukr96p2r554nuv6wy7e3wtdtlp7jqhvlcxz6hldf4sauegfn';

export class Owner {
  readonly key: OwnerKeyPair = generateOwnerKey();

  get publicKey(): string {
    return b64urlEncode(this.key.publicKeyRaw);
  }

  /** Enrolls through the CLI, on the database directly or through the running agent. */
  async enroll(configFile: string, name = 'bench owner'): Promise<void> {
    const r = await runCli(configFile, ['owner', 'add', '--name', name, '--key', this.publicKey, '--seal', SEAL]);
    if (r.code !== 0) throw new Error(`owner add failed: ${r.stderr || r.stdout}`);
  }

  decision(device: string, notice: NoticeLike, decision: 'approve' | 'deny'): string {
    const payload = makeDecisionPayload({
      device,
      requestId: notice.requestId,
      decision,
      clips: decision === 'approve' ? notice.clips.map((c) => ({ id: c.id, sha256: c.sha256 })) : [],
      urlSha256: notice.destination.urlSha256,
    });
    return JSON.stringify(signDecision(this.key.privateKey, this.key.keyId, payload));
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
