/**
 * The public request board end to end, with a real agent and its embedded broker: a request posted
 * on the board is public (HTML, feed, profile) and reaches the device with a proof it verifies;
 * one without a proof, with a forged or stale proof, or under a forked history is refused and
 * audited. Also: unknown keys can no longer crowd a pinned requester out.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { BOARD_KEY_FILE, loadBoardKey, RequestBoard } from '../../agent/board/index.js';
import { silentLogger } from '../../agent/log.js';
import { encodeGeohash, signEnvelope, WITHDRAWAL_DOMAIN } from '../../agent/requests/index.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { freePort } from '../helpers/ports.js';
import { makeRequest, newRequester, REQUESTER, signedRequest } from '../helpers/protocol.js';
import { lastSeq, refusalsAfter, requestState, ringUntilTriggered } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const HOME = { lat: 39.7817, lon: -89.6501 };
const AREA_TOPIC = `doorbell/area/${encodeGeohash(HOME.lat, HOME.lon, 5)}/request`;
const FIRE = newRequester();

async function post(board: RequestBoard, path: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${board.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

const get = async (board: RequestBoard, path: string): Promise<Response> => fetch(`${board.url}${path}`);

const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;
async function cli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 30_000 });
  return stdout;
}

describe('the public request board and a device that requires public requests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'board-'));
  const boardDir = join(dir, 'board');
  let t: TestAgent;
  let board: RequestBoard;
  let owner: TestOwner;
  let area: Recorder;
  let requesterSide: Recorder;

  beforeAll(async () => {
    mkdirSync(boardDir, { recursive: true });
    const vkey = loadBoardKey(boardDir, 'test-board').vkey;
    const port = await freePort();
    t = await startTestAgent({
      device: { location: HOME },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
      policy: {
        requesters: { pinned: [{ key: FIRE.key, label: 'Springfield Fire Department' }] },
        board: { publicKey: vkey, url: `http://127.0.0.1:${port}`, pollSeconds: 1 },
      },
    });
    board = new RequestBoard({ dataDir: boardDir, listen: `127.0.0.1:${port}`, brokerUrl: t.brokerUrl, name: 'test-board', prefix: 'doorbell', log: silentLogger });
    await board.start();
    owner = await TestOwner.create(t);
    // Both read as the broker's operator (the device's login) does: what the board relays, and every requester's topics.
    area = await Recorder.connect(t.brokerUrl, ['doorbell/area/+/request'], deviceLogin(t));
    requesterSide = await Recorder.connect(t.brokerUrl, ['requesters/#'], deviceLogin(t));
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    await owner?.close();
    await area?.close();
    await requesterSide?.close();
    await board?.stop();
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const areaRequest = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
    makeRequest({ area: { ...HOME, radiusM: 400 }, uploadUrl: 'http://127.0.0.1:9/put/evidence', ...overrides });

  // The notice as the owner sees it: sealed to them and signed by the device (protocol v2).
  const notice = async (id: unknown) => (await owner.notice(String(id))).notice;

  let relayed: Record<string, unknown>;
  let posted: Record<string, unknown>;

  it('publishes a posted request on /, /feed.json and the requester’s profile, and the device verifies its proof', async () => {
    posted = areaRequest({ requester: { name: 'Springfield PD', kind: 'police', caseNumber: '24-118' }, reason: 'Package theft on <Elm> St' });
    const answer = await post(board, '/requests', signedRequest(posted));
    expect(answer.status).toBe(201);
    const index = answer.body.index as number;

    const html = await (await get(board, '/')).text();
    expect(html).toContain('Package theft on &lt;Elm&gt; St');
    expect(html).toContain('case 24-118');
    const feed = (await (await get(board, '/feed.json')).json()) as { items: { requestId: string; keyId: string; area: unknown }[] };
    expect(feed.items[0]).toMatchObject({ requestId: posted.id, keyId: REQUESTER.keyId, area: { ...HOME, radiusM: 400 } });
    const profile = (await (await get(board, `/requesters/${REQUESTER.keyId}.json`)).json()) as { counts: { posted: number }; posts: { requestId: string }[]; outcomes: string };
    expect(profile.posts.map((p) => p.requestId)).toContain(posted.id);
    expect(profile.outcomes).toBe('not reported');
    expect(await (await get(board, `/requesters/${REQUESTER.keyId}`)).text()).toContain('Springfield PD');

    const m = await notice(posted.id);
    expect(m).toMatchObject({ requester: { keyId: REQUESTER.keyId, boardIndex: index } });
    expect(t.audit().find((e) => e.type === 'request' && e.requestId === posted.id)).toMatchObject({ boardIndex: index });
    relayed = area.json(await area.waitFor((x) => x.payload.includes(String(posted.id)))) as Record<string, unknown>;
    expect(relayed.board).toMatchObject({ index });
  });

  it('takes a requester from keygen to a public post to the device’s notice with the README’s commands', async () => {
    const keyFile = join(dir, 'requester.key');
    const keygen = await cli('requester', 'keygen', '--out', keyFile);
    const keyId = /key id\s+([0-9a-f]{16})/.exec(keygen)![1]!;
    const file = join(dir, 'request.json');
    const now = Date.now();
    writeFileSync(
      file,
      JSON.stringify({
        requester: { name: 'Springfield PD', kind: 'police', caseNumber: '24-200' },
        reason: 'Bicycle stolen from a driveway',
        window: { from: iso(t.clips[0]!.start - 1000), to: iso(now) },
        to: D,
        upload: { url: 'http://127.0.0.1:9/put/bike', expiresAt: iso(now + 3600_000) },
        replyTo: `requesters/${keyId}/receipts`,
        expiresAt: iso(now + 3600_000),
      }),
    );
    const sent = await cli('request', 'send', file, '--key', keyFile, '--board', board.url);
    const id = /posted (\S+):/.exec(sent)![1]!;
    expect(id.startsWith(`${keyId}.`)).toBe(true);
    expect(await (await get(board, `/requesters/${keyId}`)).text()).toContain('Bicycle stolen from a driveway');
    expect(await notice(id)).toMatchObject({ reason: 'Bicycle stolen from a driveway', requester: { keyId, boardIndex: expect.any(Number) } });
  });

  it('refuses and audits an area request without the board’s proof', async () => {
    const since = lastSeq(t);
    const direct = areaRequest();
    await area.client.publishAsync(AREA_TOPIC, signedRequest(direct), { qos: 1 });
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'not-public': 1 });
    expect(requestState(t, String(direct.id))).toBeUndefined();
  });

  it('refuses and audits a forged proof, a checkpoint signed by another key, and a stale proof', async () => {
    const second = areaRequest({ reason: 'Second request' });
    const { body } = await post(board, '/requests', signedRequest(second));
    const index = body.index as number;
    const message = area.json(await area.waitFor((x) => x.payload.includes(String(second.id)))) as { board: { index: number; checkpoint: string; inclusion: string[] } };
    await until(() => requestState(t, String(second.id)) !== undefined, 20_000, 'the second request on the device');

    // The same messages under fresh ids would need new signatures: the refusals come before the duplicate check.
    const forged = { ...message, board: { ...message.board, inclusion: message.board.inclusion.map(() => Buffer.alloc(32, 7).toString('base64')) } };
    const otherKey = join(dir, 'other-board');
    mkdirSync(otherKey);
    const other = new RequestBoard({ dataDir: otherKey, listen: '127.0.0.1:0', name: 'test-board', prefix: 'doorbell', log: silentLogger });
    await other.start();
    const fresh = areaRequest({ reason: 'Signed by another board key' });
    await post(other, '/requests', signedRequest(fresh));
    const otherProof = (await (await get(other, '/proof/0')).json()) as { checkpoint: string; inclusion: string[] };
    await other.stop();
    const wrongKey = { ...JSON.parse(signedRequest(fresh)), board: { index: 0, checkpoint: otherProof.checkpoint, inclusion: otherProof.inclusion } };
    // Stale: the checkpoint from before the entry was appended, which cannot contain it.
    const before = (await (await get(board, `/consistency/0/${index}`)).json()) as { checkpoint: string };
    const stale = { ...message, board: { ...message.board, checkpoint: before.checkpoint } };

    const since = lastSeq(t);
    for (const m of [forged, wrongKey, stale]) await area.client.publishAsync(AREA_TOPIC, JSON.stringify(m), { qos: 1 });
    expect(await refusalsAfter(t, since, 3)).toEqual({ 'bad-proof': 2, 'bad-checkpoint': 1 });
  });

  it('refuses and audits a checkpoint that forks the history the device copied', async () => {
    // A second board with the same key but another history: what a board showing two logs looks like.
    const forkDir = join(dir, 'fork');
    mkdirSync(forkDir);
    cpSync(join(boardDir, BOARD_KEY_FILE), join(forkDir, BOARD_KEY_FILE));
    const fork = new RequestBoard({ dataDir: forkDir, listen: '127.0.0.1:0', name: 'test-board', prefix: 'doorbell', log: silentLogger });
    await fork.start();
    const forked = areaRequest({ reason: 'Only in the fork' });
    const message = JSON.parse(signedRequest(forked)) as Record<string, unknown>;
    await post(fork, '/requests', JSON.stringify(message));
    const proof = (await (await get(fork, '/proof/0')).json()) as { checkpoint: string; inclusion: string[] };
    await fork.stop();
    const since = lastSeq(t);
    await area.client.publishAsync(AREA_TOPIC, JSON.stringify({ ...message, board: { index: 0, checkpoint: proof.checkpoint, inclusion: proof.inclusion } }), { qos: 1 });
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'inconsistent-checkpoint': 1 });
    expect(requestState(t, String(forked.id))).toBeUndefined();
  });

  it('keeps a withdrawn request visible, marked withdrawn', async () => {
    const env = signEnvelope(WITHDRAWAL_DOMAIN, REQUESTER.privateKey, REQUESTER.publicKeyRaw, JSON.stringify({ v: 2, id: posted.id, at: iso(Date.now()) }));
    expect((await post(board, '/withdrawals', JSON.stringify({ v: 2, ...env }))).status).toBe(201);
    const forgedEnv = signEnvelope(WITHDRAWAL_DOMAIN, FIRE.privateKey, FIRE.publicKeyRaw, JSON.stringify({ v: 2, id: posted.id, at: iso(Date.now()) }));
    expect((await post(board, '/withdrawals', JSON.stringify({ v: 2, ...forgedEnv }))).status).toBe(404);
    const feed = (await (await get(board, '/feed.json')).json()) as { items: { requestId: string; withdrawn: unknown }[] };
    expect(feed.items.find((i) => i.requestId === posted.id)!.withdrawn).toMatchObject({ index: expect.any(Number) });
    expect(await (await get(board, '/')).text()).toContain('Withdrawn');
    const profile = (await (await get(board, `/requesters/${REQUESTER.keyId}.json`)).json()) as { counts: { posted: number; withdrawn: number } };
    expect(profile.counts.withdrawn).toBe(1);
  });

  it('told no requester anything: pending, refused or ignored, nothing goes back', () => {
    expect(requesterSide.messages).toEqual([]);
  });

  it('gives unknown keys a small share: 20 invented requesters no longer crowd out a pinned fire department', async () => {
    // Protocol v1: 20 invented names filled maxPending (20) and the fire department was refused.
    const { pendingRequests } = (await t.control('status')) as { pendingRequests: string[] };
    const room = 5 - pendingRequests.length; // requests.maxPendingUnknown; every request so far came from unknown keys
    const since = lastSeq(t);
    const window = { from: iso(t.clips[0]!.start - 1000), to: iso(Date.now()) };
    for (let i = 0; i < 20; i++) {
      const by = newRequester();
      await area.client.publishAsync(`${D}/request`, signedRequest(makeRequest({ by, window, requester: { name: `Invented ${i}`, kind: 'other' }, uploadUrl: 'http://127.0.0.1:9/put' }), by), { qos: 1 });
    }
    const tally = await refusalsAfter(t, since, 20 - room, 30_000);
    expect(tally).toEqual({ 'rate-limited': 20 - room });
    const fire = makeRequest({ by: FIRE, window, requester: { name: 'Springfield FD', kind: 'fire', caseNumber: 'F-1' }, uploadUrl: 'http://127.0.0.1:9/put' });
    await area.client.publishAsync(`${D}/request`, signedRequest(fire, FIRE), { qos: 1 });
    const m = await notice(fire.id);
    expect(m).toMatchObject({ requester: { keyId: FIRE.keyId, vouchedBy: { by: 'pinned', label: 'Springfield Fire Department' } } });
  });

  it('refuses and audits a board that rewrites the history the device copied, keeping its copy', async () => {
    const size = ((await (await get(board, '/feed.json')).json()) as { size: number }).size;
    const port = Number(new URL(board.url).port);
    const since = lastSeq(t);
    await board.stop();
    // The same key, the same address, another history one entry longer.
    const rewrittenDir = join(dir, 'rewritten');
    mkdirSync(rewrittenDir);
    cpSync(join(boardDir, BOARD_KEY_FILE), join(rewrittenDir, BOARD_KEY_FILE));
    board = new RequestBoard({ dataDir: rewrittenDir, listen: `127.0.0.1:${port}`, name: 'test-board', prefix: 'doorbell', log: silentLogger });
    await board.start();
    for (let i = 0; i <= size; i++) expect((await post(board, '/requests', signedRequest(areaRequest({ reason: `rewritten ${i}` })))).status).toBe(201);
    // Found by the device's own copy round, not by any request: the copy stays as it was.
    // (Each copy round refuses it again: count the reasons, not the rounds.)
    expect(Object.keys(await refusalsAfter(t, since, 1, 20_000))).toEqual(['inconsistent-checkpoint']);
    const refusal = t.audit().find((e) => e.seq > since && e.type === 'refusal')!;
    expect(refusal.topic).toBe(`http://127.0.0.1:${port}`);
  });
});
