/**
 * Watching before sharing: the agent's web port gives a clip (or the latest snapshot) only for a
 * media token signed by an enrolled owner for exactly that clip, and only as an age file sealed to
 * that owner. Opened with Debian's `age`, independently of the agent's library.
 */
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signer } from '../../agent/envelope/index.js';
import { b64urlEncode, generateOwnerKey } from '../../agent/owner/index.js';
import { makeMediaToken, type MediaResource } from '../../agent/web/index.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../../scripts/bench/harness/ports.js';
import { newAgeIdentity } from '../helpers/protocol.js';

let t: TestAgent;
let base: string;
let clip: ClipRecord;
let owner: Signer;
let identityFile: string;
let stranger: Signer;

const signerOf = (key: ReturnType<typeof generateOwnerKey>): Signer => ({ keyId: key.keyId, sign: (m) => sign(null, m, key.privateKey) });
const token = (by: Signer, resource: MediaResource, nowMs = Date.now(), device = t.config.device.id): Promise<string> =>
  makeMediaToken(by, device, resource, nowMs);
const get = (path: string, auth?: string): Promise<Response> =>
  fetch(`${base}${path}`, auth ? { headers: { Authorization: `DoorbellOwner ${auth}` } } : {});
const ageDecrypt = (sealed: Buffer): Buffer => execFileSync('age', ['--decrypt', '-i', identityFile], { input: sealed });

beforeAll(async () => {
  const port = await freePort();
  t = await startTestAgent({ web: { enabled: true, listen: `127.0.0.1:${port}` } });
  base = `http://127.0.0.1:${port}`;
  clip = await t.ring();
  const key = generateOwnerKey();
  const age = newAgeIdentity();
  identityFile = join(t.dir, 'owner.agekey');
  writeFileSync(identityFile, `${age.identity}\n`, { mode: 0o600 });
  await t.control('owner-add', { name: 'Alice', publicKey: b64urlEncode(key.publicKeyRaw), sealingRecipient: age.recipient });
  owner = signerOf(key);
  stranger = signerOf(generateOwnerKey());
}, 90_000);

afterAll(async () => {
  await t?.dispose();
});

describe('clips and snapshots for enrolled owners only', () => {
  it('an enrolled owner gets the clip sealed to their key, byte for byte', async () => {
    const res = await get(`/clips/${clip.id}`, await token(owner, `clip/${clip.id}`));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/age');
    const sealed = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(sealed.length);
    // What crosses the wire is no MP4: a sniffer on plain http sees an age file.
    expect(sealed.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(sealed.includes(Buffer.from('ftyp'))).toBe(false);
    expect(ageDecrypt(sealed).equals(readFileSync(clip.path))).toBe(true);
  });

  it('a snapshot likewise', async () => {
    const res = await get('/snapshot', await token(owner, 'snapshot'));
    expect(res.status).toBe(200);
    const jpeg = ageDecrypt(Buffer.from(await res.arrayBuffer()));
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
  });

  it('the recent rings, with thumbnails, for the app’s history', async () => {
    const res = await get('/events', await token(owner, 'events'));
    expect(res.status).toBe(200);
    const { events } = JSON.parse(ageDecrypt(Buffer.from(await res.arrayBuffer())).toString('utf8')) as { events: Record<string, string>[] };
    expect(events[0]).toMatchObject({ type: 'ring', source: 'button', clipId: clip.id });
    expect(events[0]!.thumbnail).toMatch(/^data:image\/jpeg;base64,\/9j\//);
  });

  it('a LAN client without a token gets 401 and nothing else', async () => {
    for (const path of [`/clips/${clip.id}`, '/snapshot', '/events']) {
      const res = await get(path);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('DoorbellOwner');
      expect(await res.text()).toBe('unauthorized\n');
    }
    await t.refusal('no-media-token');
  });

  it('a wrong token gets 403 and nothing else: another key, another clip, another device, expired, tampered', async () => {
    const real = await token(owner, `clip/${clip.id}`);
    const tampered = `${real.slice(0, -2)}${real.endsWith('AA') ? 'BA' : 'AA'}`;
    const wrong = [
      await token(stranger, `clip/${clip.id}`),
      await token(owner, 'snapshot'),
      await token(owner, 'clip/01JD0000000000000000000000'),
      await token(owner, `clip/${clip.id}`, Date.now(), 'backdoor'),
      await token(owner, `clip/${clip.id}`, Date.now() - 10 * 60_000),
      tampered,
      'not-a-token',
    ];
    for (const bad of wrong) {
      const res = await get(`/clips/${clip.id}`, bad);
      expect(res.status, bad).toBe(403);
      expect(await res.text()).toBe('forbidden\n');
    }
    await t.refusal('bad-signature');
    await t.refusal('unknown-signer');
    await t.refusal('media-token-expired');
  });

  it('a revoked owner gets nothing', async () => {
    await t.control('owner-revoke', { keyId: owner.keyId });
    const res = await get(`/clips/${clip.id}`, await token(owner, `clip/${clip.id}`));
    expect(res.status).toBe(403);
  });
});

describe('a snapshot on demand', () => {
  it('is a picture of now, made from the camera even before anyone rang', async () => {
    const port = await freePort();
    const quiet = await startTestAgent({ web: { enabled: true, listen: `127.0.0.1:${port}` } });
    try {
      const key = generateOwnerKey();
      const age = newAgeIdentity();
      const file = join(quiet.dir, 'owner.agekey');
      writeFileSync(file, `${age.identity}\n`, { mode: 0o600 });
      await quiet.control('owner-add', { name: 'Alice', publicKey: b64urlEncode(key.publicKeyRaw), sealingRecipient: age.recipient });
      let res: Response | undefined;
      // The camera's first segment takes a moment to close.
      await until(async () => {
        const auth = await makeMediaToken(signerOf(key), quiet.config.device.id, 'snapshot', Date.now());
        res = await fetch(`http://127.0.0.1:${port}/snapshot`, { headers: { Authorization: `DoorbellOwner ${auth}` } });
        return res.status === 200;
      }, 20_000, 'a snapshot before any ring');
      const jpeg = execFileSync('age', ['--decrypt', '-i', file], { input: Buffer.from(await res!.arrayBuffer()) });
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      expect(quiet.clips).toHaveLength(0);
    } finally {
      await quiet.dispose();
    }
  });
});
