/**
 * Nothing waits forever for a lost message (issue 14): pending requests' notices are queued again
 * at start, and `doorbell owner approve` sends its decision again while the doorbell stays silent.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestAgent, until } from '../helpers/agent.js';
import { CLI } from '../helpers/child-agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { makeDecisionPayload, signDecision } from '../../agent/owner/index.js';
import { makeRequest, newOwner, signedRequest, type Notice } from '../helpers/protocol.js';
import { requestState, ringUntilTriggered } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('notices of pending requests', () => {
  it('are published again at start (the broker lost them, or the agent died before queueing one)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'republish-'));
    dirs.push(dir);
    const lan = { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingUnknown: 20 };
    let t = await startTestAgent({ requests: lan }, { dir });
    const key = newOwner();
    await t.control('owner-add', { name: 'Alice', publicKey: key.publicKey, sealingRecipient: key.sealingRecipient });
    await ringUntilTriggered(t);
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
    const id = String(request.id);
    let sub = await Recorder.connect(t.brokerUrl, [`${D}/owner/inbox/+`]);
    await sub.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await sub.waitFor((m) => m.topic === `${D}/owner/inbox/${id}` && m.payload.length > 0);
    await sub.close();
    await t.agent.stop();
    // The embedded broker kept its retained messages in memory: they are gone with it.
    t = await startTestAgent({ requests: lan }, { dir });
    try {
      expect(requestState(t, id)).toBe('pending');
      sub = await Recorder.connect(t.brokerUrl, [`${D}/owner/inbox/+`]);
      const notice = await sub.waitFor((m) => m.topic === `${D}/owner/inbox/${id}` && m.payload.length > 0, 15_000, 'the notice again');
      expect(notice.retain).toBe(true);
      expect(sub.json(notice)).toMatchObject({ requestId: id });
      await sub.close();
    } finally {
      await t.dispose();
    }
  });
});

describe('doorbell owner approve', () => {
  const mosquitto = new TestMosquitto();
  afterAll(() => mosquitto.dispose());

  it('sends the same decision again while the doorbell stays silent, and ends with its answer', async () => {
    await mosquitto.start();
    const dir = mkdtempSync(join(tmpdir(), 'resend-'));
    dirs.push(dir);
    const config = join(dir, 'doorbell.yaml');
    writeFileSync(config, stringify({ device: { id: 'quietdoor' }, mqtt: { url: mosquitto.url }, storage: { dir: join(dir, 'data') } }));
    const keyFile = join(dir, 'owner.key');
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [CLI, 'owner', 'keygen', '--out', keyFile], (err) => (err ? reject(err) : resolve())),
    );
    // The doorbell's side, played by the test: a retained notice, then silence.
    const device = await Recorder.connect(mosquitto.url, ['doorbell/quietdoor/owner/decision']);
    const notice = {
      v: 1,
      requestId: 'rfa-quiet',
      requester: { name: 'Springfield PD', kind: 'police' },
      reason: 'test',
      window: { from: new Date().toISOString(), to: new Date().toISOString() },
      destination: { host: 'evidence.example', urlSha256: 'a'.repeat(64) },
      clips: [{ id: '01JDCLIP', sha256: 'b'.repeat(64), bytes: 1000, start: new Date().toISOString(), end: new Date().toISOString() }],
    };
    await device.client.publishAsync('doorbell/quietdoor/owner/inbox/rfa-quiet', JSON.stringify(notice), { qos: 1, retain: true });
    const cli = new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'owner', 'approve', 'rfa-quiet', '--key', keyFile, '--config', config], { timeout: 60_000 }, (err, stdout) =>
        resolve({ code: typeof err?.code === 'number' ? err.code : err ? -1 : 0, stdout }),
      );
    });
    await until(() => device.messages.length >= 2, 40_000, 'the decision sent twice');
    expect(device.messages[1]!.payload.equals(device.messages[0]!.payload)).toBe(true);
    await device.client.publishAsync(
      'doorbell/quietdoor/request/rfa-quiet/status',
      JSON.stringify({ v: 1, requestId: 'rfa-quiet', state: 'uploaded', at: new Date().toISOString(), detail: 'done' }),
      { qos: 1 },
    );
    const result = await cli;
    expect(result.stdout).toContain('sending the decision again');
    expect(result.code).toBe(0);
    await device.client.publishAsync('doorbell/quietdoor/owner/inbox/rfa-quiet', '', { qos: 1, retain: true });
    await device.close();
  }, 90_000);
});

describe('a decision for a request past its expiresAt', () => {
  it('closes the request as expired on arrival (its timer had not fired) and acts on nothing', async () => {
    // The agent's clock runs 2 h ahead once the request is in; real timers (its expiry timer) do not.
    let ahead = 0;
    const t = await startTestAgent(
      { requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingUnknown: 20 } },
      { clock: { now: () => Date.now() + ahead } },
    );
    try {
      const key = newOwner();
      await t.control('owner-add', { name: 'Alice', publicKey: key.publicKey, sealingRecipient: key.sealingRecipient });
      await ringUntilTriggered(t);
      const sub = await Recorder.connect(t.brokerUrl, [`${D}/owner/inbox/+`, `${D}/request/+/status`]);
      const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
      const id = String(request.id);
      await sub.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
      const notice = sub.json(await sub.waitFor((m) => m.topic === `${D}/owner/inbox/${id}` && m.payload.length > 0)) as unknown as Notice;
      ahead = 2 * 3600_000;
      const decision = signDecision(key.privateKey, key.keyId, {
        ...makeDecisionPayload({
          device: 'testdoor',
          requestId: id,
          decision: 'approve',
          clips: notice.clips.map((c) => ({ id: c.id, sha256: c.sha256 })),
          urlSha256: notice.destination.urlSha256,
          now: Date.now() + ahead,
        }),
      });
      await sub.client.publishAsync(`${D}/owner/decision`, JSON.stringify(decision), { qos: 1 });
      await until(() => requestState(t, id) === 'expired', 15_000, 'the request expired');
      expect(t.audit().some((e) => e.type === 'decision' && e.requestId === id)).toBe(false);
      await sub.close();
    } finally {
      await t.dispose();
    }
  });
});
