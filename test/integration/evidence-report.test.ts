/**
 * Issue 12 items 4 and 5, on one real agent and a scripted history: approved (uploaded), denied,
 * expired, no footage, refused by policy and refused as invalid requests. `doorbell audit report`
 * counts exactly that history, each figure citing its entries; `doorbell evidence verify` (the built
 * CLI) accepts a real bundle and says what it proves, and rejects a changed clip byte, a removed
 * clip, a swapped approval, another device's signature and a proof for another log;
 * `doorbell evidence export` writes the same bundle for an order served on paper.
 */
import { sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type TransparencyReport } from '../../agent/audit/index.js';
import { silentLogger } from '../../agent/log.js';
import { b64urlEncode, DeviceKey, readKeyFile } from '../../agent/owner/index.js';
import { readBundle } from '../../agent/requests/index.js';
import { TAR_END, tarHeader, tarPadding } from '../../agent/requests/tar.js';
import { openDatabase } from '../../agent/store/database.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/child-agent.js';
import { Recorder } from '../helpers/mqtt.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { ringUntilTriggered, settle } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
type Files = { name: string; data: Buffer }[];

function tarOf(files: Files): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) parts.push(tarHeader(f.name, f.data.length, Date.now()), f.data, Buffer.alloc(tarPadding(f.data.length)));
  return Buffer.concat([...parts, TAR_END]);
}

describe('transparency report and evidence bundles', () => {
  let t: TestAgent;
  let owner: TestOwner;
  let requester: Recorder;
  let receiver: EvidenceReceiver;
  let cliConfig: string;
  const key = { get publicKey(): string {
    return owner.publicKey;
  } };
  const work = mkdtempSync(join(tmpdir(), 'evidence-'));
  const ids: Record<string, string> = {};
  let bundleA: Buffer;
  let bundleB: Buffer;
  let vkey: string;

  async function send(request: Record<string, unknown>): Promise<void> {
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
  }
  async function notice(request: Record<string, unknown>): Promise<ShownNotice> {
    await send(request);
    return owner.notice(String(request.id));
  }
  async function state(id: string, wanted: string): Promise<void> {
    await owner.status(id, (s) => s.state === wanted);
  }

  beforeAll(async () => {
    t = await startTestAgent({
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 20 },
      policy: { deny: { kinds: ['insurer'] } },
    });
    cliConfig = t.writeCliConfig(join(work, 'doorbell.yaml'));
    owner = await TestOwner.create(t);
    requester = await Recorder.connect(t.brokerUrl, []);
    receiver = await startEvidenceReceiver({ dir: join(work, 'received'), ownerPublicKey: key.publicKey });
    await ringUntilTriggered(t);
    await ringUntilTriggered(t);

    // The scripted history.
    const a = makeRequest({ uploadUrl: receiver.url('/a'), requester: { name: 'Springfield PD', kind: 'police', caseNumber: 'ORDER-2026-17' } });
    const b = makeRequest({ uploadUrl: receiver.url('/b'), requester: { name: 'Shelbyville PD', kind: 'police', caseNumber: '24-9' } });
    const c = makeRequest({ uploadUrl: receiver.url('/c'), requester: { name: 'Ned', kind: 'neighbor' } });
    const d = makeRequest({ uploadUrl: receiver.url('/d'), expiresAt: new Date(Date.now() + 4000).toISOString() });
    const g = makeRequest({ uploadUrl: receiver.url('/g'), requester: { name: 'Acme Storage', kind: 'other' }, window: { from: '2020-01-01T00:00:00.000Z', to: '2020-01-01T00:10:00.000Z' } });
    Object.assign(ids, { a: String(a.id), b: String(b.id), c: String(c.id), d: String(d.id), g: String(g.id) });
    const na = await notice(a);
    const nb = await notice(b);
    const nc = await notice(c);
    await notice(d);
    await owner.decide(na, 'approve');
    await owner.decide(nb, 'approve');
    await owner.decide(nc, 'deny');
    await send(g);
    await send(makeRequest({ uploadUrl: receiver.url('/e'), requester: { name: 'Acme Insurance', kind: 'insurer' } }));
    await requester.client.publishAsync(`${D}/request`, '{"v":1,"id":', { qos: 1 });
    await Promise.all([state(ids.a!, 'uploaded'), state(ids.b!, 'uploaded'), state(ids.c!, 'denied'), state(ids.d!, 'expired'), state(ids.g!, 'no-footage')]);
    const saved = (path: string) => receiver.requests.find((r) => r.path === path && r.savedAs)!.savedAs!;
    bundleA = readFileSync(saved('/a'));
    bundleB = readFileSync(saved('/b'));
    vkey = (await runCli(['audit', 'key'], cliConfig)).stdout.trim();
    // The folded refusal (the invalid one, in the policy refusal's second) is written a second later.
    await until(() => t.audit().filter((e) => e.type === 'refusal').reduce((n, e) => n + Number(e.count), 0) === 2);
  }, 120_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver?.stop();
    await t?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  async function verify(bundle: Buffer, extra: string[] = ['--device-key', vkey, '--owner-key', key.publicKey]) {
    const file = join(work, `bundle-${Math.random().toString(36).slice(2)}.tar`);
    writeFileSync(file, bundle);
    return runCli(['evidence', 'verify', file, ...extra], cliConfig);
  }

  const filesOf = (bundle: Buffer): Files => readBundle(bundle).map((f) => ({ name: f.name, data: f.data }));

  function deviceSigner() {
    const { privateKey } = readKeyFile(join(t.config.storage.dir, 'device-key.pem'));
    return (m: Buffer) => b64urlEncode(sign(null, m, privateKey));
  }

  /** The bundle with manifest.json edited and signed again (by the real device unless told otherwise). */
  function resigned(bundle: Buffer, edit: (m: Record<string, unknown>) => void, signer = deviceSigner()): Buffer {
    const files = filesOf(bundle);
    const manifest = JSON.parse(files.find((f) => f.name === 'manifest.json')!.data.toString()) as Record<string, unknown>;
    edit(manifest);
    const json = Buffer.from(JSON.stringify(manifest));
    return tarOf(
      files.map((f) =>
        f.name === 'manifest.json' ? { name: f.name, data: json } : f.name === 'manifest.sig' ? { name: f.name, data: Buffer.from(signer(json)) } : f,
      ),
    );
  }

  it('the report counts the scripted history, citing the entries of each figure', async () => {
    const { stdout, code } = await runCli(['audit', 'report', '--json'], cliConfig);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as TransparencyReport;
    const month = new Date().toISOString().slice(0, 7);
    const m = report.months.find((x) => x.month === month)!;
    expect(m.received.count).toBe(7);
    expect(Object.fromEntries(Object.entries(m.byKind).map(([k, f]) => [k, f.count]))).toEqual({ police: 3, neighbor: 1, other: 1, unknown: 2 });
    expect(m.byRequester['Springfield PD']!.count).toBe(2); // request a, and d (makeRequest's default requester)
    expect(m.byRequester['Acme Insurance']!.count).toBe(1);
    const counts = Object.fromEntries(Object.entries(m.outcomes).map(([k, f]) => [k, f.count]));
    expect(counts).toEqual({ approved: 2, denied: 1, expired: 1, noFootage: 1, refusedByPolicy: 1, refusedAsInvalid: 1 });
    const entries = t.audit();
    const cited = (seqs: number[]) => seqs.map((s) => entries.find((e) => e.seq === s)!);
    expect(cited(m.outcomes.approved.entries).map((e) => [e.type, e.decision, e.requestId])).toEqual([
      ['decision', 'approve', ids.a],
      ['decision', 'approve', ids.b],
    ]);
    expect(cited(m.outcomes.expired.entries).map((e) => e.requestId)).toEqual([ids.d]);
    expect(cited(m.outcomes.noFootage.entries).map((e) => e.requestId)).toEqual([ids.g]);
    const uploads = entries.filter((e) => e.type === 'upload-result' && e.ok === true);
    expect(m.bytesShared.count).toBe(uploads.reduce((n, e) => n + Number(e.bytes), 0));
    expect(m.bytesShared.entries).toEqual(uploads.map((e) => e.seq));
    const approvedClips = entries.filter((e) => e.type === 'decision' && e.decision === 'approve').reduce((n, e) => n + (e.clips as unknown[]).length, 0);
    expect(m.clipsShared.count).toBe(approvedClips);
    expect(report.log.size).toBe(entries.length);
    const text = await runCli(['audit', 'report'], cliConfig);
    expect(text.stdout).toContain(`approved: 2 [#${m.outcomes.approved.entries.join(' #')}]`);
    expect(text.stdout).toContain('refused by policy: 1');
    const later = JSON.parse((await runCli(['audit', 'report', '--since', '2099-01-01', '--json'], cliConfig)).stdout) as TransparencyReport;
    expect(later).toMatchObject({ since: '2099-01-01T00:00:00.000Z', months: [] });
  });

  it('evidence verify accepts the real bundle and says what it proves and what it does not', async () => {
    const { stdout, code } = await verify(bundleA);
    expect(stdout).toContain('every check passed');
    expect(stdout).toMatch(/the doorbell with key [0-9a-f ]{19} \(doorbell\.local\/audit\/[0-9a-f]{16}\), the key you gave, signed manifest\.json/);
    expect(stdout).toContain(`records this request as entry`);
    expect(stdout).toContain('from Springfield PD (police), reference ORDER-2026-17');
    expect(stdout).toContain("records the owner's approval (exactly the one in manifest.json)");
    expect(stdout).toContain('Not proven by this bundle:');
    expect(code).toBe(0);
    const bare = await verify(bundleA, []);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('pass --device-key');
    expect(bare.stdout).toContain('pass --owner-key');
  });

  it('rejects a changed clip byte', async () => {
    const files = filesOf(bundleA);
    const clip = files.find((f) => f.name.startsWith('clips/'))!;
    clip.data = Buffer.from(clip.data);
    clip.data[Math.floor(clip.data.length / 2)]! ^= 0x01;
    const { stdout, code } = await verify(tarOf(files));
    expect(stdout).toContain('REJECTED');
    expect(stdout).toContain(`${clip.name} sha256 differs from the manifest`);
    expect(code).toBe(1);
  });

  it('rejects a removed clip', async () => {
    const files = filesOf(bundleA);
    const removed = files.find((f) => f.name.startsWith('clips/'))!;
    const { stdout, code } = await verify(tarOf(files.filter((f) => f !== removed)));
    expect(stdout).toContain(`${removed.name} is missing`);
    expect(code).toBe(1);
  });

  it("rejects a swapped approval, even in a manifest the device signed again", async () => {
    const approvalB = (JSON.parse(filesOf(bundleB).find((f) => f.name === 'manifest.json')!.data.toString()) as { approval: unknown }).approval;
    const { stdout, code } = await verify(resigned(bundleA, (m) => (m.approval = approvalB)));
    expect(stdout).toContain(`approval is for request ${ids.b}`);
    expect(stdout).toContain("is not the one the doorbell's log recorded");
    expect(code).toBe(1);
  });

  it("rejects another device's signature", async () => {
    const other = new DeviceKey({ dir: join(work, 'other-device'), log: silentLogger });
    await other.start();
    const forged = resigned(bundleA, (m) => (m.devicePublicKey = other.publicKey), (msg) => other.sign(msg));
    const { stdout, code } = await verify(forged);
    expect(stdout).toContain('another device made this bundle');
    expect(code).toBe(1);
  });

  it('rejects a proof for another log', async () => {
    // Another device's log holding the very same entry texts: its proofs are valid, for its own log.
    const dir = join(work, 'other-log');
    const otherKey = new DeviceKey({ dir, log: silentLogger });
    await otherKey.start();
    const db = openDatabase(join(dir, 'doorbell.db'));
    const other = new AuditLog({ db, clock: { now: () => Date.now() }, log: silentLogger, signer: otherKey });
    other.start();
    const files = filesOf(bundleA);
    const proofOf = (name: string) => JSON.parse(files.find((f) => f.name === name)!.data.toString()) as { entry: string };
    const { entry: requestEntry } = proofOf('log/request.json');
    const { entry: approvalEntry } = proofOf('log/approval.json');
    const { seq: _rs, at: _ra, type: rType, ...request } = JSON.parse(requestEntry) as Record<string, unknown>;
    other.append(String(rType), request);
    const { seq: _as, at: _aa, type: aType, ...approval } = JSON.parse(approvalEntry) as Record<string, unknown>;
    other.append(String(aType), approval);
    const evidence = other.evidence(ids.a!)!;
    other.stop();
    db.close();
    const swapped = files.map((f) =>
      f.name === 'log/checkpoint'
        ? { name: f.name, data: Buffer.from(evidence.checkpoint) }
        : f.name === 'log/request.json'
          ? { name: f.name, data: Buffer.from(JSON.stringify(evidence.request)) }
          : f.name === 'log/approval.json'
            ? { name: f.name, data: Buffer.from(JSON.stringify(evidence.approval)) }
            : f,
    );
    const { stdout, code } = await verify(tarOf(swapped));
    expect(stdout).toContain("the checkpoint is not signed by this device's key");
    expect(code).toBe(1);
  });

  it('exports the bundle of an approved request for an order on paper, audited; refuses one without an approval', async () => {
    mkdirSync(join(work, 'usb'));
    const dest = join(work, 'usb', 'order.tar');
    const exported = await runCli(['evidence', 'export', ids.a!, dest], cliConfig);
    expect(exported.stdout).toContain(`evidence for request ${ids.a} (reference ORDER-2026-17)`);
    expect(exported.code).toBe(0);
    const { stdout, code } = await verify(readFileSync(dest));
    expect(stdout).toContain('every check passed');
    expect(code).toBe(0);
    await settle(100);
    expect(t.audit().find((e) => e.type === 'evidence-export')).toMatchObject({ requestId: ids.a, reference: 'ORDER-2026-17' });
    const denied = await runCli(['evidence', 'export', ids.c!, join(work, 'usb', 'denied.tar')], cliConfig);
    expect(denied.stderr + denied.stdout).toContain(`request ${ids.c} has no approval`);
    expect(denied.code).not.toBe(0);
  });
});
