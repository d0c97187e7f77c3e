/**
 * Issue 10, in a terminal: `doorbell owner approve|deny` (the real CLI process, against a running
 * agent and its broker) acts only on a notice the doorbell signed for `P/D/owner/out` and still
 * lists as waiting. A broker writer (logged in as the device: the broker itself, in the threat
 * model) retains forged, moved and replayed notices where the CLI listens: the CLI signs nothing,
 * exits 1, and says on stderr which check refused them; nothing but its ask reaches `P/D/owner/in`.
 * Beside the genuine notice, a forged one changes nothing: the CLI shows and binds the genuine one.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  destinationText,
  fromUtf8,
  keyIdOf,
  openMessage,
  parseEnvelope,
  sealMessage,
  sha256Hex,
  unseal,
  type MessageBody,
  type Signer,
} from '../../agent/envelope/index.js';
import { generateOwnerKeyFile, parseB64url, readDevicePublicKeys, type OwnerKeyFile } from '../../agent/owner/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;
const D = 'doorbell/testdoor';
const OUT = `${D}/owner/out`;
const SNAPSHOT = `${D}/owner/snapshot`;
const IN = `${D}/owner/in`;

describe('the owner CLI refuses notices the doorbell did not send as sent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'owner-cli-refusals-'));
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let config: string;
  /** Another enrolled owner: reads the genuine notices, to know their bytes and hashes. */
  let bob: TestOwner;
  let writer: Recorder;
  let deviceIdentity: string;
  let deviceKeyId: string;
  let deviceKey: Uint8Array;
  let attacker: Signer;
  let n = 0;
  let keys = 0;

  beforeAll(async () => {
    t = await startTestAgent({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 10 } });
    receiver = await startEvidenceReceiver({ dir: join(dir, 'received') });
    config = t.writeCliConfig(join(dir, 'agent.yaml'));
    bob = await TestOwner.create(t, { name: 'Bob' });
    writer = await Recorder.connect(t.brokerUrl, [`${D}/owner/#`], deviceLogin(t));
    deviceIdentity = readFileSync(join(t.config.storage.dir, 'device-age.key'), 'utf8').trim();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    deviceKeyId = device.keyId;
    deviceKey = parseB64url(device.signingKey)!;
    const secret = ed25519.utils.randomSecretKey();
    attacker = { keyId: keyIdOf(ed25519.getPublicKey(secret)), sign: (m) => ed25519.sign(m, secret) };
    await t.ring();
    await t.ring();
  }, 120_000);

  afterAll(async () => {
    await writer?.close();
    await bob?.close();
    await receiver?.stop();
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function doorbell(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, DOORBELL_CONFIG: '' } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  /**
   * A key file for one CLI run, enrolled: the doorbell answers one ask a second per key, and each
   * run asks once.
   */
  async function cliKey(): Promise<OwnerKeyFile & { file: string }> {
    const file = join(dir, `owner-${++keys}.key`);
    const key = await generateOwnerKeyFile(file);
    await t.control('owner-add', { name: `Alice ${keys}`, publicKey: key.signingKey, sealingRecipient: key.sealingRecipient });
    return { ...key, file };
  }

  /** A new pending request; resolves with its id once Bob was shown its notice. */
  async function pendingRequest(): Promise<string> {
    const request = makeRequest({ uploadUrl: receiver.url(`/put/refusals-${++n}?X-Sig=1`) });
    await writer.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await bob.notice(String(request.id));
    return String(request.id);
  }

  /**
   * The genuine notice of `requestId` as the writer captured it on the broker, and its signed body.
   * The broker delivers to each subscriber on its own: Bob may have it before the writer does.
   */
  async function captured(requestId: string): Promise<{ ciphertext: Buffer; body: Record<string, unknown>; sha256: string }> {
    const deadline = Date.now() + 10_000;
    let checked = 0;
    while (Date.now() < deadline) {
      for (const m of writer.messages.slice(checked)) {
        checked++;
        if (m.topic !== OUT) continue;
        const opened = await openMessage(m.payload, OUT, { identities: [bob.key.identity], keyFor: (id) => (id === deviceKeyId ? deviceKey : undefined) }).catch(() => undefined);
        if (opened?.kind === 'notice' && opened.body.requestId === requestId) return { ciphertext: m.payload, body: opened.body, sha256: opened.sha256 };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no notice of ${requestId} on ${OUT} within 10 s`);
  }

  /** A notice with `changes`, signed by `signer`, sealed to the owner's real recipient: valid in every way but who signed it. */
  async function forged(signer: Signer, to: OwnerKeyFile, template: Record<string, unknown>, changes: Record<string, unknown>): Promise<Buffer> {
    const body = { ...template, ...changes, v: 2, kind: 'notice', at: new Date().toISOString(), seq: 1_000_000_000 } as MessageBody;
    return Buffer.from((await sealMessage(signer, OUT, body, [to.sealingRecipient])).ciphertext);
  }

  /** Retains `payload` on `topic` while `work` runs (the CLI reads it as soon as it subscribes), then clears it. */
  async function retained<T>(copies: [topic: string, payload: Buffer][], work: () => Promise<T>): Promise<T> {
    for (const [topic, payload] of copies) await writer.client.publishAsync(topic, payload, { qos: 1, retain: true });
    try {
      return await work();
    } finally {
      for (const [topic] of copies) await writer.client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
    }
  }

  /** What owners sent on `P/D/owner/in` from message `from` on, opened with the device's key. */
  async function sentToDevice(from: number): Promise<Record<string, unknown>[]> {
    const bodies = [];
    for (const m of writer.messages.slice(from).filter((r) => r.topic === IN)) {
      bodies.push(JSON.parse(fromUtf8(parseEnvelope(await unseal(m.payload, [deviceIdentity])).body)) as Record<string, unknown>);
    }
    return bodies;
  }

  /** Runs `doorbell owner approve ID` with `key`: exit 1, the stderr line of the check that refused, and nothing signed. */
  async function expectNothingSigned(key: { file: string }, requestId: string, stderrLine: string): Promise<void> {
    const from = writer.messages.length;
    const approve = await doorbell('owner', 'approve', requestId, '--key', key.file);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toContain(stderrLine);
    expect(approve.stdout).toContain(`request ${requestId} is not waiting for a decision`);
    expect(approve.stdout).not.toContain('destination');
    // Its ask was answered, so it is on the broker; no decision followed it.
    await expect.poll(() => writer.messages.slice(from).some((m) => m.topic === IN), { timeout: 15_000 }).toBe(true);
    expect((await sentToDevice(from)).map((b) => b.kind)).toEqual(['ask']);
  }

  it('when the only notice of a request is signed by another key, or carries the doorbell’s key id over a wrong signature', async () => {
    const template = (await captured(await pendingRequest())).body;
    const destination = { scheme: 'https', host: 'evil.example', path: '/steal', urlSha256: sha256Hex('https://evil.example/steal') };
    const posing: Signer = { keyId: deviceKeyId, sign: attacker.sign };
    const first = await cliKey();
    await retained([[OUT, await forged(attacker, first, template, { requestId: 'rfa-forged-1', destination })]], () =>
      expectNothingSigned(first, 'rfa-forged-1', `refused a message on ${OUT}: unknown-signer (signed by ${attacker.keyId}, a key not accepted here)`),
    );
    const second = await cliKey();
    await retained([[OUT, await forged(posing, second, template, { requestId: 'rfa-forged-2', destination })]], () =>
      expectNothingSigned(second, 'rfa-forged-2', `refused a message on ${OUT}: bad-signature (the signature does not verify for topic ${OUT})`),
    );
  });

  it('when the only notice of a request is the doorbell’s genuine one, moved from owner/out to owner/snapshot', async () => {
    const key = await cliKey();
    const id = await pendingRequest();
    const genuine = await captured(id);
    await bob.decide(await bob.notice(id), 'deny');
    await bob.status(id, (s) => s.state === 'denied');
    await retained([[SNAPSHOT, genuine.ciphertext]], () =>
      expectNothingSigned(key, id, `refused a message on ${SNAPSHOT}: bad-signature (signed for topic ${OUT}, moved to ${SNAPSHOT})`),
    );
  });

  it('when the only notice of a request is an old copy of the doorbell’s, replayed after the request was denied', async () => {
    const key = await cliKey();
    const id = await pendingRequest();
    const genuine = await captured(id);
    await bob.decide(await bob.notice(id), 'deny');
    await bob.status(id, (s) => s.state === 'denied');
    await retained([[OUT, genuine.ciphertext]], () =>
      expectNothingSigned(key, id, `refused a notice of ${id} on the broker: stale (seq ${genuine.body.seq as number}, not listed in the doorbell's answer to this ask: an old copy replayed)`),
    );
  });

  it('beside the genuine notice, a forged one with another destination changes nothing: the CLI shows and binds the genuine one', async () => {
    const id = await pendingRequest();
    const genuine = await captured(id);
    const shown = await bob.notice(id);
    const evil = { scheme: 'https', host: 'evil.example', path: '/steal', urlSha256: sha256Hex('https://evil.example/steal') };
    const posing: Signer = { keyId: deviceKeyId, sign: attacker.sign };
    const key = await cliKey();
    const from = writer.messages.length;
    const approve = await retained(
      [
        [OUT, await forged(attacker, key, genuine.body, { destination: evil, receiptTo: null })],
        [SNAPSHOT, await forged(posing, key, genuine.body, { destination: evil })],
      ],
      () => doorbell('owner', 'approve', id, '--key', key.file),
    );
    expect(approve.stderr).toContain(`refused a message on ${OUT}: unknown-signer`);
    expect(approve.stderr).toContain(`refused a message on ${SNAPSHOT}: bad-signature`);
    expect(approve.stdout).toContain(`destination  ${destinationText(shown.notice.destination)}`);
    expect(approve.stdout).not.toContain('evil.example');
    expect(approve.stdout).toContain('status       uploaded');
    expect(approve.code).toBe(0);
    const decisions = (await sentToDevice(from)).filter((b) => b.kind === 'decision');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ requestId: id, decision: 'approve', noticeSha256: genuine.sha256, urlSha256: shown.notice.destination.urlSha256 });
    expect(genuine.sha256).toBe(shown.sha256);
    expect(receiver.requests.map((r) => r.verification?.ok)).toEqual([true]);
  });
});
