/**
 * The answer to an owner's ask lists every notice the device sealed before it (protocol.md
 * "Freshness": an owner shows a notice that is listed, or newer than the answer, and nothing else).
 * Built from the agent's real request, owner and audit modules over a real SQLite file and real
 * crypto; what the device sends is read by the owner's real inbox, as the app and the CLI read it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../agent/audit/index.js';
import { iso, systemClock } from '../../agent/clock.js';
import { OwnerInbox, ownerTopics, type OpenedMessage } from '../../agent/envelope/index.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey, DeviceSequence, OwnerChannel, OwnerRegistry, sha256Hex } from '../../agent/owner/index.js';
import { RequestLifecycle } from '../../agent/requests/lifecycle.js';
import { buildNotice, NoticeBook } from '../../agent/requests/notice.js';
import { OwnerSync } from '../../agent/requests/owner-sync.js';
import type { RequestServiceDeps } from '../../agent/requests/request-context.js';
import { RequestTable } from '../../agent/requests/request-table.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { b64url } from '../../agent/pairing/index.js';
import { makeRequest, newOwner } from '../helpers/protocol.js';

const TOPICS = ownerTopics('doorbell', 'frontdoor');

let dir: string;
let db: Db;
let device: DeviceKey;
let owners: OwnerRegistry;
let table: RequestTable;
let lifecycle: RequestLifecycle;
let sync: OwnerSync;
let audit: AuditLog;
/** Everything the device published, in order. */
let published: { topic: string; payload: Buffer }[];
let channel: OwnerChannel;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'owner-sync-'));
  db = openDatabase(join(dir, 'doorbell.db'));
  device = new DeviceKey({ dir, log: silentLogger });
  await device.start();
  audit = new AuditLog({ db, clock: systemClock, log: silentLogger, signer: device });
  audit.start();
  owners = new OwnerRegistry({ db, clock: systemClock, log: silentLogger });
  owners.start();
  const sequence = new DeviceSequence(db);
  sequence.start();
  published = [];
  channel = new OwnerChannel({
    topics: TOPICS,
    device,
    owners,
    sequence,
    mqtt: {
      subscribe: async () => undefined,
      publishReliable: (topic, payload) => void published.push({ topic, payload }),
      publishLatest: async (topic, payload) => void published.push({ topic, payload }),
    },
    refuse: () => undefined,
    clock: systemClock,
    log: silentLogger,
  });
  table = new RequestTable(db);
  table.start();
  const notices = new NoticeBook(db);
  const deps = { db, owner: channel, audit, clock: systemClock, log: silentLogger, clips: { get: () => undefined } } as unknown as RequestServiceDeps;
  lifecycle = new RequestLifecycle(deps, table, notices, () => undefined);
  lifecycle.start();
  sync = new OwnerSync(deps, table, notices, lifecycle);
});

afterEach(() => {
  sync.stop();
  lifecycle.stop();
  audit.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A pending request as intake writes it, with no clips. */
function pendingRequest(): string {
  const request = makeRequest() as { id: string; upload: { url: string }; requester: { name: string } };
  const now = Date.now();
  table.insert({
    id: request.id,
    requesterName: request.requester.name,
    requesterKeyId: 'k',
    trust: { keyId: 'k', fingerprint: 'f', trusted: false },
    topic: 'direct',
    receivedAt: now,
    request: request as never,
    state: 'pending',
    detail: 'waiting for the owner',
    urlSha256: sha256Hex(request.upload.url),
    expiresAt: now + 3600_000,
    uploadExpiresAt: now + 3600_000,
    clips: [],
    terminal: false,
  });
  return request.id;
}

function enroll(): ReturnType<typeof newOwner> {
  const owner = newOwner();
  owners.add('Alice', owner.publicKey, owner.sealingRecipient, 'cli');
  return owner;
}

function ask(owner: ReturnType<typeof newOwner>): OpenedMessage {
  const body = { v: 2, kind: 'ask', at: iso(Date.now()), nonce: b64url(randomBytes(16)) };
  return { keyId: owner.keyId, kind: 'ask', at: body.at, body, plaintext: new Uint8Array(), sha256: '' };
}

/** The view of a reader that asked with `asked` (none: a reader that just started), after everything the device published. */
async function ownerView(owner: ReturnType<typeof newOwner>, asked: OpenedMessage | undefined): Promise<OwnerInbox> {
  await channel.send({ kind: 'status', requestId: 'settled', state: 'expired', detail: 'end of the test' });
  const inbox = new OwnerInbox({ identities: [owner.identity], device: { keyId: device.keyId, signingKey: device.publicKey } });
  if (asked) inbox.asking(asked.body.nonce as string);
  for (const m of published) {
    const r = await inbox.receive(m.topic, m.payload);
    expect(r.ok, r.ok ? '' : r.detail).toBe(true);
  }
  expect(inbox.synced).toBe(asked !== undefined);
  return inbox;
}

describe('an answer to an ask', () => {
  it('lists a notice that was being sealed when the ask arrived', async () => {
    const owner = enroll();
    const id = pendingRequest();
    const row = table.get(id)!;
    // A request's notice is queued for sealing, and the owner's ask is handled before it is done.
    lifecycle.sendNotice(id, buildNotice(row, []));
    const asked = ask(owner);
    await sync.answer(asked);
    const inbox = await ownerView(owner, asked);
    expect(inbox.waiting().map((n) => n.notice.requestId)).toEqual([id]);
  });

  it('to another reader (or an old one, replayed) shows nothing to a reader that has not been answered', async () => {
    const owner = enroll();
    const id = pendingRequest();
    lifecycle.sendNotice(id, buildNotice(table.get(id)!, []));
    await sync.answer(ask(owner));
    const inbox = await ownerView(owner, undefined);
    expect(inbox.waiting()).toEqual([]);
  });

  it('carries the notice of a request that came while no owner was enrolled', async () => {
    const id = pendingRequest();
    lifecycle.sendNotice(id, buildNotice(table.get(id)!, []));
    await new Promise((r) => setTimeout(r, 50));
    expect(published).toEqual([]); // nobody to seal it to
    const owner = enroll();
    const asked = ask(owner);
    await sync.answer(asked);
    const inbox = await ownerView(owner, asked);
    expect(inbox.waiting().map((n) => n.notice.requestId)).toEqual([id]);
  });
});
