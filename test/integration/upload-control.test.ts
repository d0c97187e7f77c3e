/**
 * Uploads that cannot jam (issue 14): a receiver that hangs holds up only its own request and its
 * attempt fails after `stallSeconds`; a certificate error fails at once; revoking the approving key
 * or a signed `cancel` decision stops an approved upload; statuses go out in order.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { requestState, ringUntilTriggered } from '../helpers/requests.js';

const D = 'doorbell/testdoor';

/** Takes the PUT, reads it, and never answers: a receiver that hangs. */
class HangingReceiver {
  readonly server: Server;
  readonly requests: IncomingMessage[] = [];
  readonly closed: string[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(make: (handler: (req: IncomingMessage) => void) => Server = (h) => createServer(h)) {
    this.server = make((req) => {
      this.requests.push(req);
      req.resume(); // read and dropped, so a closed connection is noticed
      req.socket.on('close', () => this.closed.push(req.url ?? ''));
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string, scheme = 'http'): string {
    return `${scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('uploads that cannot jam', () => {
  let t: TestAgent;
  let owner: TestOwner;
  let requester: Recorder;
  const dir = mkdtempSync(join(tmpdir(), 'upload-control-'));
  const hanging = new HangingReceiver();
  let receiver: EvidenceReceiver;
  let tls: HangingReceiver;

  beforeAll(async () => {
    t = await startTestAgent({
      requests: {
        allowInsecureUploads: true,
        allowPrivateDestinations: true,
        maxPendingPerRequester: 20,
        maxPendingUnknown: 20,
        upload: { stallSeconds: 2, concurrency: 3 },
      },
    });
    owner = await TestOwner.create(t);
    requester = await Recorder.connect(t.brokerUrl, []);
    await hanging.start();
    receiver = await startEvidenceReceiver({ dir: join(dir, 'received'), ownerPublicKey: owner.publicKey });
    // A self-signed certificate: the kind of error no retry can fix.
    const pem = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', pem.key, '-out', pem.cert], { stdio: 'pipe' });
    tls = new HangingReceiver((h) => createHttpsServer({ key: readFileSync(pem.key), cert: readFileSync(pem.cert) }, h));
    await tls.start();
    await ringUntilTriggered(t);
  }, 90_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver?.stop();
    await hanging.stop();
    await tls?.stop();
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A pending request's device-signed notice, with its id at hand. */
  async function pending(uploadUrl: string): Promise<ShownNotice & { requestId: string }> {
    const request = makeRequest({ uploadUrl });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    const shown = await owner.notice(String(request.id));
    return { ...shown, requestId: shown.notice.requestId };
  }

  const approve = (shown: ShownNotice): Promise<unknown> => owner.decide(shown, 'approve');

  /** The states the owner was told for a request, in the order they arrived. */
  const states = (shown: { requestId: string }): string[] =>
    owner.messages.filter((m) => m.kind === 'status' && m.body.requestId === shown.requestId).map((m) => String(m.body.state));

  const reached = (shown: { requestId: string }, state: string, timeoutMs = 30_000): Promise<void> =>
    until(() => states(shown).includes(state), timeoutMs, `${shown.requestId} ${state}`);

  const auditFor = (requestId: string, type: string): Record<string, unknown>[] =>
    t.audit().filter((e) => e.type === type && e.requestId === requestId);

  it('a receiver that hangs does not delay another request, and its attempt fails after stallSeconds', async () => {
    const stuck = await pending(hanging.url('/hang/1'));
    const fine = await pending(receiver.url('/put/fine'));
    await approve(stuck);
    await until(() => hanging.requests.length === 1, 20_000, 'the hanging receiver to get the PUT');
    await approve(fine);
    await reached(fine, 'uploaded');
    expect(requestState(t, stuck.requestId)).toBe('uploading');
    // Statuses in order: approved, then uploading, then uploaded.
    const order = states(fine);
    expect(order.indexOf('approved')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('approved')).toBeLessThan(order.indexOf('uploading'));
    expect(order.indexOf('uploading')).toBeLessThan(order.indexOf('uploaded'));
    // No byte moving for 2 s fails the stuck attempt, which is retried.
    await until(() => auditFor(stuck.requestId, 'upload-result').length > 0, 20_000, 'the stalled attempt to fail');
    expect(auditFor(stuck.requestId, 'upload-result')[0]).toMatchObject({ ok: false, outcome: 'retry', detail: 'no byte moved for 2 s' });
    // The owner cancels it with a signed decision: no further attempt, and the connection is closed.
    await until(() => hanging.requests.length >= 2, 20_000, 'the retry');
    await owner.decide(stuck, 'cancel');
    await reached(stuck, 'cancelled');
    expect(requestState(t, stuck.requestId)).toBe('cancelled');
    expect(auditFor(stuck.requestId, 'decision').map((e) => e.decision)).toEqual(['approve', 'cancel']);
    await until(() => hanging.closed.length >= 2, 10_000, 'the cancelled upload to close its connection');
  });

  it('a certificate error fails on the first attempt', async () => {
    const notice = await pending(tls.url('/tls', 'https'));
    await approve(notice);
    await reached(notice, 'failed');
    expect(auditFor(notice.requestId, 'upload-attempt')).toHaveLength(1);
    expect(String(auditFor(notice.requestId, 'upload-result')[0]!.detail)).toContain('TLS certificate refused');
  });

  it('revoking the approving key cancels its upload under way (audited)', async () => {
    const other = await TestOwner.create(t, { name: 'Bob' });
    const notice = await pending(hanging.url('/hang/revoke'));
    await other.decide(notice, 'approve');
    await until(() => hanging.requests.some((r) => r.url === '/hang/revoke'), 20_000, 'the upload to start');
    await t.control('owner-revoke', { keyId: other.keyId });
    await reached(notice, 'cancelled');
    const closed = t.audit().find((e) => e.type === 'closed' && e.requestId === notice.requestId);
    expect(closed).toMatchObject({ state: 'cancelled', detail: `cancelled: the approving key ${other.keyId} was revoked` });
    await until(() => hanging.closed.includes('/hang/revoke'), 10_000, 'the connection to close');
    await other.close();
  });
});
