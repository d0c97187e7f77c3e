/**
 * The agent's own answers to owners' audit asks on the sealed owner channel: `report-ask` gets the
 * transparency report sealed to the owners (it names requesters), `audit-ask` gets a consistency
 * proof that verifies between two checkpoints the device signed. Both signed by the device for the
 * owner channel's topic, opened here with the owner's age identity.
 */
import { sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditVerifierKey, openCheckpoint, signCheckpoint, treeOfEntries, type TransparencyReport } from '../../agent/audit/index.js';
import { databasePath } from '../../agent/main.js';
import { openDatabase } from '../../agent/store/database.js';
import { openMessage, ownerTopics, sealMessage } from '../../agent/envelope/index.js';
import { parseB64url, readKeyFile } from '../../agent/owner/index.js';
import { base64Decode, rootHash, verifyConsistency } from '../../agent/tlog/index.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import { newOwner } from '../helpers/protocol.js';

let t: TestAgent;
let owner: Recorder;
const key = newOwner();

beforeAll(async () => {
  t = await startTestAgent();
  await t.control('owner-add', { name: 'Alice', publicKey: key.publicKey, sealingRecipient: key.sealingRecipient });
  owner = await Recorder.connect(t.brokerUrl, [ownerTopics('doorbell', 'testdoor').out], await keyLogin(key));
}, 60_000);

afterAll(async () => {
  await owner?.close();
  await t?.dispose();
});

async function ask(body: Record<string, unknown>, kind: string): Promise<Record<string, unknown>> {
  const topics = ownerTopics('doorbell', 'testdoor');
  const device = JSON.parse(readFileSync(join(t.config.storage.dir, 'device-public.json'), 'utf8')) as { sealingRecipient: string; signingKey: string; keyId: string };
  const signer = { keyId: key.keyId, sign: (m: Uint8Array) => sign(null, m, key.privateKey) };
  owner.messages.splice(0);
  const sealed = await sealMessage(signer, topics.in, { v: 2, at: new Date().toISOString(), ...body, kind: String(body.kind) }, [device.sealingRecipient]);
  await owner.client.publishAsync(topics.in, Buffer.from(sealed.ciphertext), { qos: 1 });
  for (;;) {
    const m = await owner.waitFor((x) => x.topic === topics.out, 15_000, kind);
    const opened = await openMessage(m.payload, topics.out, {
      identities: [key.identity],
      keyFor: (keyId) => (keyId === device.keyId ? parseB64url(device.signingKey) : undefined),
    }).catch(() => undefined);
    if (opened?.kind === kind) return opened.body;
    owner.messages.splice(owner.messages.indexOf(m), 1);
  }
}

it('answers a report-ask with the sealed report of its log', async () => {
  const body = await ask({ kind: 'report-ask' }, 'report');
  const report = body.report as TransparencyReport;
  expect(report.v).toBe(1);
  expect(report.log.size).toBe(t.audit().length);
  expect(report.log.rootHash).toMatch(/^[0-9a-f]{64}$/);
});

it('answers an audit-ask with a consistency proof between two checkpoints it signed', async () => {
  const device = JSON.parse(readFileSync(join(t.config.storage.dir, 'device-public.json'), 'utf8')) as { signingKey: string };
  const publicKey = parseB64url(device.signingKey)!;
  // Checkpoints as `doorbell audit checkpoint` makes them: from the stored entries, signed by the device key.
  const checkpointNow = () => {
    const db = openDatabase(databasePath(t.config), { readonly: true });
    try {
      const tree = treeOfEntries(db);
      const { privateKey } = readKeyFile(join(t.config.storage.dir, 'device-key.pem'));
      return signCheckpoint(tree.size, rootHash(tree), publicKey, (m) => new Uint8Array(sign(null, m, privateKey)));
    } finally {
      db.close();
    }
  };
  const older = openCheckpoint(checkpointNow(), publicKey);
  await t.control('owner-add', { name: 'Bob', publicKey: newOwner().publicKey, sealingRecipient: newOwner().sealingRecipient });
  await until(() => t.audit().length > older.size);
  const newer = openCheckpoint(checkpointNow(), publicKey);
  const body = await ask({ kind: 'audit-ask', oldSize: older.size, newSize: newer.size }, 'audit-proof');
  expect(body).toMatchObject({ oldSize: older.size, newSize: newer.size });
  const proof = (body.proof as string[]).map((p) => base64Decode(p));
  expect(verifyConsistency(older.size, newer.size, older.rootHash, newer.rootHash, proof)).toBe(true);
  expect(auditVerifierKey(publicKey)).toContain(older.origin);
});
