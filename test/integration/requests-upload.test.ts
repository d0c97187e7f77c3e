/**
 * PROTOCOL.md "Upload": the evidence bundle as Debian's tar reads it, redirects, retries, held clips
 * released at the end, and an upload cut off by a killed agent finishing after restart. The first
 * part runs over Mosquitto (the protocol flow against a real external broker); the restart part runs
 * the built agent as a child process with its embedded broker.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle, type Manifest } from '../../agent/requests/index.js';
import { startEvidenceReceiver, type EvidenceReceiver, type ReceiverOptions } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { ChildAgent } from '../helpers/child-agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { auditOf, holdsOf, lastSeq, refusalsAfter, requestState, ringUntilTriggered, settle } from '../helpers/requests.js';

const run = promisify(execFile);
const D = 'doorbell/testdoor';

describe('uploads over Mosquitto', () => {
  const mosquitto = new TestMosquitto();
  let t: TestAgent;
  let owner: TestOwner;
  let requester: Recorder;
  const dir = mkdtempSync(join(tmpdir(), 'received-'));
  const receivers: EvidenceReceiver[] = [];

  beforeAll(async () => {
    await mosquitto.start();
    t = await startTestAgent({
      mqtt: { url: mosquitto.url },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 20, maxPendingUnknown: 20 },
    });
    owner = await TestOwner.create(t);
    requester = await Recorder.connect(t.brokerUrl, []);
    await ringUntilTriggered(t);
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    for (const r of receivers) await r.stop();
    await t?.dispose();
    await mosquitto.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function receiver(opts: ReceiverOptions = {}): Promise<EvidenceReceiver> {
    const r = await startEvidenceReceiver({ dir: mkdtempSync(join(dir, 'r-')), ownerPublicKey: owner.publicKey, ...opts });
    receivers.push(r);
    return r;
  }

  async function pending(uploadUrl: string): Promise<ShownNotice> {
    const request = makeRequest({ uploadUrl });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    return owner.notice(String(request.id));
  }

  const approve = (shown: ShownNotice, clipIds?: string[]): Promise<unknown> => owner.decide(shown, 'approve', clipIds ? { clipIds } : {});

  function finalState(shown: ShownNotice, state: string): Promise<Record<string, unknown>> {
    return owner.status(shown.notice.requestId, (s) => s.state === state) as unknown as Promise<Record<string, unknown>>;
  }

  const attempts = (requestId: string): unknown[] =>
    t.audit().filter((e) => e.type === 'upload-attempt' && e.requestId === requestId).map((e) => e.attempt);

  it('sends a POSIX tar holding exactly the approved clips, which Debian’s tar lists and extracts byte for byte', async () => {
    const r = await receiver();
    const shown = await pending(r.url('/put/tar?X-Sig=1'));
    const notice = shown.notice;
    expect(notice.clips.map((c) => c.id).sort()).toEqual(t.clips.map((c) => c.id).sort());
    const chosen = t.clips[1]!;
    await approve(shown, [chosen.id]);
    await finalState(shown, 'uploaded');

    expect(r.requests).toHaveLength(1);
    const got = r.requests[0]!;
    expect(got.verification).toMatchObject({ ok: true, problems: [] });
    expect(got.verification!.manifest!.clips.map((c) => c.id)).toEqual([chosen.id]);

    const { stdout } = await run('tar', ['-tf', got.savedAs!]);
    expect(stdout.trim().split('\n').sort()).toEqual(
      ['clips/' + chosen.id + '.mp4', 'manifest.json', 'manifest.sig', 'log/checkpoint', 'log/request.json', 'log/approval.json'].sort(),
    );
    const out = mkdtempSync(join(dir, 'x-'));
    await run('tar', ['-xf', got.savedAs!, '-C', out]);
    const extracted = readFileSync(join(out, 'clips', `${chosen.id}.mp4`));
    expect(createHash('sha256').update(extracted).digest('hex')).toBe(chosen.sha256);
    expect(extracted.equals(readFileSync(chosen.path))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ v: 1, device: 'testdoor', requestId: notice.requestId });
    expect(holdsOf(t, notice.requestId)).toEqual([]);
  });

  it('refuses a decision from an unknown key over Mosquitto, and sends nothing', async () => {
    const r = await receiver();
    const shown = await pending(r.url('/put/refused'));
    const notice = shown.notice;
    const since = lastSeq(t);
    const stranger = await TestOwner.create(t, { enroll: false });
    await stranger.decide(shown, 'approve');
    await stranger.close();
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'unknown-signer': 1 });
    await settle();
    expect(r.requests).toHaveLength(0);
    expect(requestState(t, notice.requestId)).toBe('pending');
  });

  it('does not follow a redirect to a private address: one request, then failed', async () => {
    const trap = await receiver();
    const r = await receiver({ redirectTo: trap.url('/stolen') });
    const shown = await pending(r.url('/put/redirect'));
    const notice = shown.notice;
    await approve(shown);
    const status = await finalState(shown, 'failed');
    expect(status.detail).toMatch(/HTTP 302/);
    await settle();
    expect(r.requests).toHaveLength(1);
    expect(trap.requests).toHaveLength(0);
    expect(attempts(notice.requestId)).toEqual([1]);
    expect(holdsOf(t, notice.requestId)).toEqual([]);
  });

  it('retries 503 twice, then delivers on the third attempt and releases the holds', async () => {
    const r = await receiver({ respond: (n) => (n <= 2 ? 503 : 200) });
    const shown = await pending(r.url('/put/retry'));
    const notice = shown.notice;
    expect(holdsOf(t, notice.requestId).length).toBe(notice.clips.length);
    await approve(shown);
    await finalState(shown, 'uploaded');
    expect(r.requests.map((x) => x.status)).toEqual([503, 503, 200]);
    expect(r.requests[2]!.verification?.ok).toBe(true);
    expect(attempts(notice.requestId)).toEqual([1, 2, 3]);
    expect(owner.messages.some((m) => m.kind === 'status' && m.body.requestId === notice.requestId && /HTTP 503; attempt 2 at/.test(String(m.body.detail)))).toBe(true);
    expect(holdsOf(t, notice.requestId)).toEqual([]);
  });

  it('fails at once on 403, after one attempt, and releases the holds', async () => {
    const r = await receiver({ respond: () => 403 });
    const notice = await pending(r.url('/put/forbidden'));
    await approve(notice);
    const status = await finalState(notice, 'failed');
    expect(status.detail).toMatch(/HTTP 403/);
    await settle(1500); // longer than the first retry delay could be
    expect(r.requests).toHaveLength(1);
    expect(attempts(notice.notice.requestId)).toEqual([1]);
    expect(holdsOf(t, notice.notice.requestId)).toEqual([]);
  });
});

/** An upload URL whose first PUT is never answered (the agent dies during it); later ones get 200. */
class StallingReceiver {
  readonly puts: { bytes: number; body?: Buffer; error?: string }[] = [];
  private server: Server | null = null;
  private firstArrived!: () => void;
  readonly first = new Promise<void>((resolve) => (this.firstArrived = resolve));

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      const record: (typeof this.puts)[number] = { bytes: 0 };
      this.puts.push(record);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        record.bytes += c.length;
        chunks.push(c);
      });
      req.on('error', (err) => (record.error = err.message));
      if (this.puts.length === 1) {
        this.firstArrived();
        return;
      }
      req.on('end', () => {
        record.body = Buffer.concat(chunks);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${path}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }
}

describe('an upload cut off by a killed agent (child process)', () => {
  const agent = new ChildAgent();
  const receiver = new StallingReceiver();
  let owner: TestOwner | undefined;
  let requester: Recorder | undefined;

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver.stop();
    await agent.dispose();
  });

  it('starts again after restart and delivers a verifying bundle', async () => {
    await agent.configure({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true } });
    await receiver.start();
    await agent.start();
    const C = 'doorbell/childdoor';

    owner = await TestOwner.create({ config: agent.config, brokerUrl: agent.brokerUrl, control: (cmd, args) => agent.control(cmd, args) });
    // Pressed again if a press got lost to a stall (see ringUntilTriggered).
    const clips = async (): Promise<number> => ((await agent.control('status')) as { storage: { clips: number } }).storage.clips;
    for (let press = 1; ; press++) {
      expect((await agent.cli(['sim', 'ring'])).code).toBe(0);
      try {
        await agent.eventually(async () => (await clips()) >= 1, 8000);
        break;
      } catch (err) {
        if (press === 3) throw err;
      }
    }

    requester = await Recorder.connect(agent.brokerUrl, []);
    const request = makeRequest({ uploadUrl: receiver.url('/put/crash?X-Sig=1') });
    const id = String(request.id);
    await requester.client.publishAsync(`${C}/request`, signedRequest(request), { qos: 1 });
    const shown = await owner.notice(id);
    const notice = shown.notice;
    await owner.decide(shown, 'approve');

    await receiver.first;
    expect(await agent.kill('SIGKILL')).toBeNull();
    expect(requestState(agent, id)).toBe('uploading');
    expect(holdsOf(agent, id)).toEqual(notice.clips.map((c) => c.id).sort());

    await agent.start();
    await agent.eventually(() => requestState(agent, id) === 'uploaded', 30_000);
    // The owner's session did not survive the agent's broker going away; a new one asks again.
    await owner.reconnect(agent.brokerUrl);
    expect((await owner.status(id, (s) => s.state === 'uploaded')).requestId).toBe(id);

    expect(receiver.puts).toHaveLength(2);
    const verification = verifyBundle(receiver.puts[1]!.body!, { ownerPublicKey: owner.publicKey });
    expect(verification.problems).toEqual([]);
    expect(verification.manifest!.clips.map((c) => c.id).sort()).toEqual(notice.clips.map((c) => c.id).sort());
    const audit = auditOf(agent);
    expect(audit.filter((e) => e.type === 'upload-attempt' && e.requestId === id).map((e) => e.attempt)).toEqual([1, 2]);
    expect(audit.filter((e) => e.type === 'upload-result' && e.requestId === id)).toMatchObject([{ attempt: 2, ok: true }]);
    expect(holdsOf(agent, id)).toEqual([]);
    expect(await agent.kill('SIGTERM')).toBe(0);
  }, 90_000);
});
