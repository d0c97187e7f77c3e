/**
 * The request board's log, checked by an independent verifier written from docs/protocol.md
 * ("Request board") with plain node:crypto: entry bytes, RFC 6962 inclusion and consistency proofs,
 * C2SP signed checkpoints. Then the board as a process: a restart and a SIGKILL during a burst of
 * appends lose no request it confirmed and never fork its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { waitForPort } from '../helpers/mosquitto.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';

const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;

// ---- the independent verifier: only node:crypto, only what docs/protocol.md says ----
const sha256 = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
const leafOf = (entry: Buffer): Buffer => sha256(Buffer.from([0]), entry);
const node = (l: Buffer, r: Buffer): Buffer => sha256(Buffer.from([1]), l, r);

/** RFC 9162 2.1.3.2. */
function inclusionOk(leaf: Buffer, index: number, size: number, proof: Buffer[], root: Buffer): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = node(p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) ((fn >>= 1), (sn >>= 1));
    } else r = node(r, p);
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 2.1.4.2. */
function consistencyOk(first: number, second: number, firstRoot: Buffer, secondRoot: Buffer, proof: Buffer[]): boolean {
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  if (first === 0 || first > second || proof.length === 0) return false;
  const path = [...proof];
  if ((first & (first - 1)) === 0) path.unshift(firstRoot);
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) ((fn >>= 1), (sn >>= 1));
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = node(c, fr);
      sr = node(c, sr);
      while (fn % 2 === 0 && fn !== 0) ((fn >>= 1), (sn >>= 1));
    } else sr = node(sr, c);
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && fr.equals(firstRoot) && sr.equals(secondRoot);
}

/** A C2SP signed checkpoint, checked against the verifier key `name+hash+base64(0x01 || pub)`. */
function openCheckpoint(note: string, vkey: string): { size: number; root: Buffer } {
  // The key material is standard base64, which may itself hold "+": split at the first two only.
  const [, name, hash, material] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey.trim()) as unknown as [string, string, string, string];
  const raw = Buffer.from(material, 'base64');
  expect(raw[0]).toBe(1);
  const pub = raw.subarray(1);
  const keyHash = sha256(Buffer.from(`${name}\n`), Buffer.from([1]), pub).subarray(0, 4);
  expect(keyHash.toString('hex')).toBe(hash);
  const split = note.indexOf('\n\n');
  const text = note.slice(0, split + 1);
  const sigLine = note.slice(split + 2).split('\n').find((l) => l.startsWith(`\u2014 ${name} `))!;
  const blob = Buffer.from(sigLine.slice(`\u2014 ${name} `.length), 'base64');
  expect(blob.subarray(0, 4).equals(keyHash)).toBe(true);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' });
  expect(verify(null, Buffer.from(text), key, blob.subarray(4))).toBe(true);
  const [origin, size, root] = text.split('\n');
  expect(origin).toBe(name);
  return { size: Number(size), root: Buffer.from(root!, 'base64') };
}
// ---- end of the independent verifier ----

class BoardProcess {
  child: ChildProcess | null = null;
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npx tsc -p tsconfig.build.json" (npm test builds it)`);
    this.child = spawn(process.execPath, [CLI, 'board', 'serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.dir, '--name', 'audit-board'], { stdio: 'ignore' });
    await waitForPort(this.port);
  }
  async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
  get = async <T>(path: string): Promise<T> => (await (await fetch(`${this.url}${path}`)).json()) as T;
  text = async (path: string): Promise<string> => (await fetch(`${this.url}${path}`)).text();
  post = (body: string): Promise<Response> => fetch(`${this.url}/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

const request = (n: number): Record<string, unknown> =>
  makeRequest({ to: 'doorbell/frontdoor', reason: `request ${n}`, uploadUrl: 'https://evidence.example/put' });

describe('the request board log, verified independently', () => {
  const dir = mkdtempSync(join(tmpdir(), 'board-log-'));
  let board: BoardProcess;
  let vkey = '';
  const seen: { size: number; root: Buffer }[] = [];

  beforeAll(async () => {
    board = new BoardProcess(join(dir, 'data'), await freePort());
    await board.start();
    vkey = await board.text('/key');
  }, 30_000);

  afterAll(async () => {
    await board?.end('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('proves every entry’s inclusion and every pair of checkpoints consistent, from the doc alone', async () => {
    for (let n = 0; n < 11; n++) {
      expect((await board.post(signedRequest(request(n)))).status).toBe(201);
      seen.push(openCheckpoint(await board.text('/checkpoint'), vkey));
    }
    const latest = seen.at(-1)!;
    expect(latest.size).toBe(11);
    for (let i = 0; i < latest.size; i++) {
      const p = await board.get<{ entry: string; inclusion: string[]; checkpoint: string; size: number }>(`/proof/${i}`);
      const entry = Buffer.from(p.entry, 'base64');
      // The entry is the requester's signed message, byte for byte, in the documented layout.
      const [tag, type, key, sig, ...rest] = entry.toString('utf8').split('\n');
      expect([tag, type]).toEqual(['doorbell board entry v2', 'request']);
      const payload = rest.join('\n');
      const requesterKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key! }, format: 'jwk' });
      expect(verify(null, Buffer.from(`doorbell request v2\n${payload}`), requesterKey, Buffer.from(sig!, 'base64url'))).toBe(true);
      expect(JSON.parse(payload).reason).toBe(`request ${i}`);
      const cp = openCheckpoint(p.checkpoint, vkey);
      expect(inclusionOk(leafOf(entry), i, cp.size, p.inclusion.map((h) => Buffer.from(h, 'base64')), cp.root)).toBe(true);
      expect(inclusionOk(leafOf(Buffer.concat([entry, Buffer.from('x')])), i, cp.size, p.inclusion.map((h) => Buffer.from(h, 'base64')), cp.root)).toBe(false);
    }
    for (const a of seen) {
      for (const b of seen.filter((x) => x.size >= a.size)) {
        const c = await board.get<{ proof: string[] }>(`/consistency/${a.size}/${b.size}`);
        expect(consistencyOk(a.size, b.size, a.root, b.root, c.proof.map((h) => Buffer.from(h, 'base64'))), `${a.size} -> ${b.size}`).toBe(true);
      }
    }
    // And the leaves a device copies give the checkpoint's root.
    const { leaves } = await board.get<{ leaves: string[] }>(`/leaves?from=0&to=${latest.size}`);
    const mth = (hs: Buffer[]): Buffer => {
      if (hs.length === 1) return hs[0]!;
      let k = 1;
      while (k * 2 < hs.length) k *= 2;
      return node(mth(hs.slice(0, k)), mth(hs.slice(k)));
    };
    expect(mth(leaves.map((h) => Buffer.from(h, 'base64'))).equals(latest.root)).toBe(true);
  });

  it('loses nothing and never forks across a restart and a SIGKILL during a burst of appends', async () => {
    await board.end('SIGTERM');
    await board.start();
    const afterRestart = openCheckpoint(await board.text('/checkpoint'), vkey);
    expect(afterRestart).toEqual(seen.at(-1));

    const burst = Array.from({ length: 60 }, (_, n) => request(100 + n));
    const confirmed: string[] = [];
    let killed = false;
    const posts = burst.map(async (r) => {
      try {
        const res = await board.post(signedRequest(r));
        if (res.status === 201) confirmed.push(String(r.id));
      } catch {
        // the board died under this request: it was never confirmed
      }
      if (!killed && confirmed.length >= 15) {
        killed = true;
        await board.end('SIGKILL');
      }
    });
    await Promise.all(posts);
    expect(killed).toBe(true);
    expect(confirmed.length).toBeGreaterThanOrEqual(15);

    await board.start();
    const after = openCheckpoint(await board.text('/checkpoint'), vkey);
    expect(after.size).toBeGreaterThanOrEqual(afterRestart.size + confirmed.length);
    const c = await board.get<{ proof: string[] }>(`/consistency/${afterRestart.size}/${after.size}`);
    expect(consistencyOk(afterRestart.size, after.size, afterRestart.root, after.root, c.proof.map((h) => Buffer.from(h, 'base64')))).toBe(true);
    const ids = new Set<string>();
    for (let i = 0; i < after.size; i++) {
      const p = await board.get<{ entry: string }>(`/proof/${i}`);
      ids.add(JSON.parse(Buffer.from(p.entry, 'base64').toString('utf8').split('\n').slice(4).join('\n')).id);
    }
    for (const id of confirmed) expect(ids.has(id), id).toBe(true);
  }, 60_000);
});
