/**
 * PROTOCOL.md "Audit log and transparency": `doorbell audit verify` (the built CLI) recomputes the
 * chain of a log a running agent wrote, and names the entry someone edited in the database file
 * behind the append-only triggers' back.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { databasePath } from '../../agent/main.js';
import { openDatabase } from '../../agent/store/database.js';
import { startTestAgent, until, type AuditEntry, type TestAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/child-agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { makeRequest, signedRequest, newOwner } from '../helpers/protocol.js';

const D = 'doorbell/testdoor';

describe('doorbell audit verify', () => {
  let t: TestAgent;
  let configFile: string;
  let requester: Recorder;

  beforeAll(async () => {
    t = await startTestAgent({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true } });
    // The CLI finds the log through the same config the agent runs with.
    configFile = join(t.dir, 'doorbell.yaml');
    writeFileSync(configFile, stringify({ device: { id: 'testdoor' }, runtime: { dir: t.config.runtime.dir }, storage: { dir: t.config.storage.dir } }));
    requester = await Recorder.connect(t.brokerUrl, []);
  }, 60_000);

  afterAll(async () => {
    await requester?.close();
    await t?.dispose();
  });

  let requestEntry: AuditEntry;

  it('passes on the log a running agent wrote', async () => {
    const alice = newOwner();
    await t.control('owner-add', { name: 'Alice', publicKey: alice.publicKey, sealingRecipient: alice.sealingRecipient });
    await requester.client.publishAsync(`${D}/request`, '{"v":1,', { qos: 1 });
    // Accepted, with no clip to match: an audited request that needs no camera footage.
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put', window: { from: '2020-01-01T00:00:00.000Z', to: '2020-01-01T00:10:00.000Z' } });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await until(() => t.audit().some((e) => e.type === 'request' && e.requestId === request.id) && t.audit().some((e) => e.type === 'refusal'));
    requestEntry = t.audit().find((e) => e.type === 'request')!;

    const { code, stdout } = await runCli(['audit', 'verify'], configFile);
    expect(stdout).toMatch(new RegExp(`audit log ok: ${t.audit().length} entries, head [0-9a-f]{64}`));
    expect(code).toBe(0);
  });

  it('fails, naming the entry, once a row is edited directly in the database file', async () => {
    await t.stop();
    const db = openDatabase(databasePath(t.config));
    try {
      const edit = db.prepare("UPDATE audit_log SET entry = replace(entry, 'Springfield PD', 'Shelbyville PD') WHERE seq = ?");
      expect(() => edit.run(requestEntry.seq)).toThrow(/append-only/);
      db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
      expect(edit.run(requestEntry.seq).changes).toBe(1);
    } finally {
      db.close();
    }
    expect(t.audit().find((e) => e.seq === requestEntry.seq)).toMatchObject({ requester: { name: 'Shelbyville PD' } });

    const { code, stdout } = await runCli(['audit', 'verify'], configFile);
    expect(stdout).toContain(`audit log BROKEN at entry ${requestEntry.seq}: the entry or its hash was altered`);
    expect(code).toBe(1);
  });
});
