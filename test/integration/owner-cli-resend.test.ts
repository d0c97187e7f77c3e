/**
 * `doorbell owner approve|deny` when a message is lost on the way (protocol.md "Decision"): the real
 * CLI process talks to a real agent through a proxy in front of Mosquitto that loses what a broker
 * that acknowledged it and then restarted without persistence would lose. The CLI sends the very
 * same sealed decision again after silence, up to three sends; the device acts on one.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fromUtf8, parseEnvelope, unseal, type Json } from '../../agent/envelope/index.js';
import { generateOwnerKeyFile, readAgeIdentity, type OwnerKeyFile } from '../../agent/owner/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { MqttProxy, type ProxiedPublish } from '../helpers/mqtt-proxy.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { lastSeq, refusalTally, refusalsAfter, requestState, ringUntilTriggered, settle } from '../helpers/requests.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;
const D = 'doorbell/testdoor';
const IN = `${D}/owner/in`;
const OUT = `${D}/owner/out`;

type Verdict = 'pass' | 'drop';

describe('owner approve|deny sends an unanswered decision again, the same bytes', () => {
  const mosquitto = new TestMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'owner-cli-resend-'));
  const keyFile = join(dir, 'owner.key');
  let t: TestAgent;
  let proxy: MqttProxy;
  let receiver: EvidenceReceiver;
  let slowReceiver: Server;
  let requester: Recorder;
  let bob: TestOwner;
  let owner: OwnerKeyFile;
  let deviceIdentity: string;
  let config: string;

  /** What the proxy does with the CLI's n-th decision (1-based), and with what the device sends it. */
  let onDecision: (n: number) => Verdict | Promise<Verdict>;
  let onDeviceMessage: (body: Json) => Verdict;
  /** The CLI's decisions as they reached the proxy, dropped or not. */
  let decisions: Buffer[];

  /** The body inside a sealed message: the device opens what goes up, the CLI's owner what comes down. */
  async function opened(p: ProxiedPublish): Promise<Json> {
    try {
      const plaintext = await unseal(p.payload, [p.direction === 'up' ? deviceIdentity : owner.identity]);
      return JSON.parse(fromUtf8(parseEnvelope(plaintext).body)) as Json;
    } catch {
      return {};
    }
  }

  async function doorbell(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, DOORBELL_CONFIG: '' }, timeout: 90_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  async function pendingRequest(uploadUrl: string): Promise<string> {
    const request = makeRequest({ uploadUrl });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await bob.notice(String(request.id));
    return String(request.id);
  }

  const auditOf = (id: string, type: string) => t.audit().filter((e) => e.type === type && e.requestId === id);

  /** Every send was the same sealed bytes (one nonce): a copy, never a second decision. */
  function expectCopies(n: number): void {
    expect(decisions).toHaveLength(n);
    for (const d of decisions) expect(d.equals(decisions[0]!)).toBe(true);
  }

  beforeAll(async () => {
    await mosquitto.start();
    t = await startTestAgent({ mqtt: { url: mosquitto.url }, requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 20, maxPendingUnknown: 20 } });
    deviceIdentity = readAgeIdentity(join(t.config.storage.dir, 'device-age.key'));
    proxy = new MqttProxy({ host: '127.0.0.1', port: mosquitto.port }, async (p) => {
      if (p.direction === 'down') return p.topic === OUT ? onDeviceMessage(await opened(p)) : 'pass';
      if (p.topic !== IN || (await opened(p)).kind !== 'decision') return 'pass';
      decisions.push(p.payload);
      return onDecision(decisions.length);
    });
    await proxy.start();
    owner = await generateOwnerKeyFile(keyFile);
    await t.control('owner-add', { name: 'Alice', publicKey: owner.signingKey, sealingRecipient: owner.sealingRecipient });
    config = join(dir, 'cli.yaml');
    // The CLI reaches the broker only through the proxy.
    writeFileSync(config, stringify({ device: { id: 'testdoor' }, storage: { dir: t.config.storage.dir }, runtime: { dir: t.config.runtime.dir }, mqtt: { url: proxy.url } }));
    bob = await TestOwner.create(t, { name: 'Bob' });
    requester = await Recorder.connect(t.brokerUrl, ['requesters/#']);
    receiver = await startEvidenceReceiver({ dir: join(dir, 'received'), ownerPublicKey: owner.signingKey });
    // A receiver that answers 3 s after the bundle arrived: the upload outlasts the resend interval.
    slowReceiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end(), 3000));
    });
    await new Promise<void>((resolve) => slowReceiver.listen(0, '127.0.0.1', () => resolve()));
    await ringUntilTriggered(t);
  }, 120_000);

  afterAll(async () => {
    await bob?.close();
    await requester?.close();
    await receiver?.stop();
    slowReceiver?.closeAllConnections();
    await new Promise<void>((resolve) => (slowReceiver ? slowReceiver.close(() => resolve()) : resolve()));
    await proxy?.stop();
    await t?.dispose();
    await mosquitto.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    decisions = [];
    onDecision = () => 'pass';
    onDeviceMessage = () => 'pass';
  });

  it('sends it again when the first send was lost: the device gets it, acts once, the bundle arrives', async () => {
    const id = await pendingRequest(receiver.url('/put/lost-decision'));
    onDecision = (n) => (n === 1 ? 'drop' : 'pass');

    const approve = await doorbell('owner', 'approve', id, '--key', keyFile, '--resend-after', '2');
    expect(approve.stderr).toBe('');
    expect(approve.code).toBe(0);
    expect(approve.stdout).toContain('no answer within 2 s: sending the same decision again (2 of 3)');
    expect(approve.stdout).toContain('status       uploaded');
    expectCopies(2);
    expect(requestState(t, id)).toBe('uploaded');
    const bundles = receiver.requests.filter((r) => r.path === '/put/lost-decision');
    expect(bundles).toHaveLength(1);
    expect(bundles[0]!.verification?.ok).toBe(true);
    expect(auditOf(id, 'decision')).toHaveLength(1);
    expect(auditOf(id, 'refusal')).toEqual([]);
  });

  it('takes the refusal of its copy as a replay for "an earlier send arrived" when the answers were lost', async () => {
    const id = await pendingRequest(receiver.url('/put/lost-answers'));
    // Everything the device says between the first send and the second is lost.
    let answersLost = false;
    onDecision = (n) => {
      answersLost = n === 1;
      return 'pass';
    };
    onDeviceMessage = () => (answersLost ? 'drop' : 'pass');
    const since = lastSeq(t);

    const approve = await doorbell('owner', 'approve', id, '--key', keyFile, '--resend-after', '2');
    expect(approve.stderr).toBe('');
    expect(approve.code).toBe(0);
    expect(approve.stdout).toContain('sending the same decision again (2 of 3)');
    expect(approve.stdout).toContain('an earlier send of this decision had arrived');
    expect(approve.stdout).toContain('status       uploaded');
    expectCopies(2);
    expect(requestState(t, id)).toBe('uploaded');
    expect(receiver.requests.filter((r) => r.path === '/put/lost-answers')).toHaveLength(1);
    expect(auditOf(id, 'decision')).toHaveLength(1);
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'replayed-nonce': 1 });
    expect(auditOf(id, 'refusal')).toMatchObject([{ reason: 'replayed-nonce' }]);
  });

  it('sends once when the doorbell answers in time, even while the upload takes longer than the interval', async () => {
    const { port } = slowReceiver.address() as AddressInfo;
    const id = await pendingRequest(`http://127.0.0.1:${port}/put/slow`);
    const approve = await doorbell('owner', 'approve', id, '--key', keyFile, '--resend-after', '1');
    expect(approve.code).toBe(0);
    expect(approve.stdout).toContain('status       uploaded');
    expect(approve.stdout).not.toContain('sending the same decision again');
    expectCopies(1);
  });

  it('says so when the request was decided elsewhere before its decision arrived', async () => {
    const id = await pendingRequest(receiver.url('/put/decided-elsewhere'));
    // The first send is lost, and so is everything the device says until Bob's denial has gone out.
    let answersLost = false;
    let bobDenied!: () => void;
    const denialSent = new Promise<void>((resolve) => (bobDenied = resolve));
    onDecision = async (n) => {
      if (n > 1) {
        await denialSent;
        answersLost = false;
        return 'pass';
      }
      answersLost = true;
      void bob.notice(id).then((shown) => bob.decide(shown, 'deny'));
      return 'drop';
    };
    onDeviceMessage = (body) => {
      if (body.kind === 'status' && body.requestId === id && body.state === 'denied') bobDenied();
      return answersLost ? 'drop' : 'pass';
    };
    const since = lastSeq(t);

    const approve = await doorbell('owner', 'approve', id, '--key', keyFile, '--resend-after', '2');
    expect(approve.code).toBe(1);
    expect(approve.stdout).toContain(`request ${id} was no longer waiting for a decision when this one arrived (it is denied): it changed nothing`);
    expectCopies(2);
    expect(requestState(t, id)).toBe('denied');
    expect(auditOf(id, 'decision')).toMatchObject([{ decision: 'deny', keyId: bob.keyId }]);
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'request-not-pending': 1 });
    expect(receiver.requests.filter((r) => r.path === '/put/decided-elsewhere')).toEqual([]);
  });

  it('gives up after the third send and its interval, and says the decision may still arrive and where to look', async () => {
    const id = await pendingRequest(receiver.url('/put/never-arrives'));
    onDecision = () => 'drop';
    const since = lastSeq(t);
    const started = Date.now();

    const approve = await doorbell('owner', 'approve', id, '--key', keyFile, '--resend-after', '1');
    expect(approve.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(approve.stdout).toContain('sending the same decision again (3 of 3)');
    expect(approve.stderr).toContain('no answer to 3 sends of this decision within 3 s. It may still arrive');
    expect(approve.stderr).toContain(`doorbell requests show ${id}`);
    expectCopies(3);
    await settle(1100);
    expect(requestState(t, id)).toBe('pending');
    expect(auditOf(id, 'decision')).toEqual([]);
    expect(refusalTally(t, since)).toEqual({});
  });
});
