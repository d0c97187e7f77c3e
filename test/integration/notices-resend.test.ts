/**
 * Nothing waits on a lost message: a pending request whose notice was never signed (the agent died
 * first) gets one at the next start, owners who ask get every pending notice again, and a decision
 * arriving after a request's expiresAt closes it as expired and approves nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../agent/main.js';
import { openDatabase } from '../../agent/store/database.js';
import { startTestAgent, until } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { requestState, ringUntilTriggered } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('notices of pending requests', () => {
  it('are signed again at start when the agent died before sending one, and owners who ask get them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'republish-'));
    dirs.push(dir);
    const lan = { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingUnknown: 20 };
    let t = await startTestAgent({ requests: lan }, { dir });
    const owner = await TestOwner.create(t);
    await ringUntilTriggered(t);
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
    const id = String(request.id);
    const requester = await Recorder.connect(t.brokerUrl, []);
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await owner.notice(id);
    await requester.close();
    await t.agent.stop();
    // As if the agent had died between writing the request and signing its notice.
    const db = openDatabase(databasePath(t.config));
    db.prepare('DELETE FROM owner_notices WHERE request_id = ?').run(id);
    db.close();
    t = await startTestAgent({ requests: lan }, { dir });
    try {
      expect(requestState(t, id)).toBe('pending');
      // The same owner logs in again (the embedded broker went away with the agent) and asks.
      await owner.reconnect(t.brokerUrl);
      expect((await owner.notice(id, 15_000)).notice.requestId).toBe(id);
      await owner.close();
    } finally {
      await t.dispose();
    }
  });
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
      const owner = await TestOwner.create(t);
      await ringUntilTriggered(t);
      const requester = await Recorder.connect(t.brokerUrl, []);
      const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
      const id = String(request.id);
      await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
      const shown = await owner.notice(id);
      ahead = 2 * 3600_000;
      await owner.decide(shown, 'approve', { edit: (d) => ({ ...d, at: new Date(Date.now() + ahead).toISOString(), expiresAt: new Date(Date.now() + ahead + 600_000).toISOString() }) });
      await until(() => requestState(t, id) === 'expired', 15_000, 'the request expired');
      expect(t.audit().some((e) => e.type === 'decision' && e.requestId === id)).toBe(false);
      await requester.close();
      await owner.close();
    } finally {
      await t.dispose();
    }
  });
});
