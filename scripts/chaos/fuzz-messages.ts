/**
 * Malformed inbound messages: valid messages built from PROTOCOL.md's schemas (request, area request,
 * signed decision, pairing hello), then mutated: truncation, bit flips, type swaps, dropped keys,
 * huge strings, deep nesting, oversized payloads, garbage, non-objects, bad UTF-8, prototype keys,
 * extreme values, replays. None of them may ever lead to an upload.
 */
import { randomBytes } from 'node:crypto';
import { generateOwnerKey } from '../../agent/owner/index.js';
import { generateCode, PAIRING_CODE_DIGITS, startPairing } from '../../agent/pairing/index.js';
import { makeRequest, requestId, signRequest } from '../bench/harness/owner.js';

export type FuzzTopic = 'request' | 'area' | 'decision' | 'pair';

export interface FuzzContext {
  device: string;
  uploadUrl: (id: string) => string;
  location: { lat: number; lon: number };
}

const KiB = 1024;
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const chance = (p: number): boolean => Math.random() < p;
const int = (max: number): number => Math.floor(Math.random() * max);

/** A syntactically valid age recipient for fuzzed pairing hellos (its secret is not needed). */
const FUZZ_RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

/** Built once: a second owner the device never enrolled. */
const stranger = generateOwnerKey();

function baseMessage(topic: FuzzTopic, ctx: FuzzContext): unknown {
  const id = requestId(`fz-${randomBytes(5).toString('hex')}`);
  switch (topic) {
    case 'request':
      return JSON.parse(signRequest(makeRequest(id, ctx.uploadUrl(id), 10 * 60_000, { requester: { name: `fuzzer-${int(50)}`, kind: pick(['police', 'neighbor', 'other']) } })));
    case 'area':
      return JSON.parse(signRequest(makeRequest(id, ctx.uploadUrl(id), 10 * 60_000, { area: { ...ctx.location, radiusM: 400 } })));
    case 'decision': {
      // A decision body as an owner would seal it, sent unsealed (and then mutated): the device must
      // refuse every one before reading it. Sealed forgeries are covered by the integration tests.
      const now = Date.now();
      return {
        v: 2,
        kind: chance(0.8) ? 'decision' : 'ask',
        at: new Date(now).toISOString(),
        device: ctx.device,
        requestId: chance(0.5) ? id : `fz-${int(100)}`,
        decision: chance(0.8) ? 'approve' : 'deny',
        clips: [{ id: `01J${randomBytes(8).toString('hex').toUpperCase().slice(0, 23)}`, sha256: randomBytes(32).toString('hex') }],
        urlSha256: randomBytes(32).toString('hex'),
        noticeSha256: randomBytes(32).toString('hex'),
        expiresAt: new Date(now + 600_000).toISOString(),
        nonce: randomBytes(16).toString('base64url'),
        keyId: stranger.keyId,
      };
    }
    case 'pair':
      // A well-formed hello with a guessed code: the device answers it (one guess), never enrolls it.
      return startPairing(generateCode(PAIRING_CODE_DIGITS, (n) => randomBytes(n)), ctx.device, {
        name: `fuzz phone ${int(100)}`,
        signingKey: randomBytes(32),
        sealingRecipient: FUZZ_RECIPIENT,
      }, (n) => randomBytes(n)).hello;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = value;
  return root;
}

function otherValue(): Json {
  return pick<() => Json>([
    () => null,
    () => true,
    () => int(1e9) - 5e8,
    () => pick([1e308, -1e308, 2 ** 53 + 1, -0, 0.1, 1e-300]),
    () => '',
    () => pick(['2026-13-45T99:99:99.000Z', 'not-a-date', '1970-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']),
    () => pick(['\u0000', '\u202e\u202d', '💥'.repeat(50), '../../etc/passwd', 'doorbell/#', '+', 'javascript:alert(1)']),
    () => pick(['http://127.0.0.1/x', 'https://[::1]/x', 'https://user:pw@evidence.example/x', 'file:///etc/passwd', 'ftp://x']),
    () => [],
    () => [1, 'a', null],
    () => ({}),
    () => ({ nested: { deeper: [int(10)] } }),
  ])();
}

const mutations: ((text: string, value: Json) => Buffer | string)[] = [
  (text) => text.slice(0, int(text.length)),
  (text) => {
    const buf = Buffer.from(text);
    for (let i = 0, n = 1 + int(8); i < n; i++) buf[int(buf.length)]! ^= 1 << int(8);
    return buf;
  },
  (_t, v) => {
    const p = pick(paths(v));
    return JSON.stringify(setAt(v, p, otherValue()));
  },
  (_t, v) => {
    const p = pick(paths(v).filter((x) => x.length > 0));
    return JSON.stringify(p ? setAt(v, p, undefined) : v);
  },
  (_t, v) => {
    // A huge string where a short one belongs: under and over the 64 KiB limit.
    const p = pick(paths(v).filter((x) => x.length > 0));
    return JSON.stringify(p ? setAt(v, p, 'A'.repeat(pick([1 * KiB, 60 * KiB, 65 * KiB, 300 * KiB]))) : v);
  },
  () => {
    const depth = pick([100, 1_000, 10_000, 30_000]);
    return chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  },
  (_t, v) => JSON.stringify({ ...(v as object), pad: 'x'.repeat(64 * KiB + int(pick([1, 100 * KiB, 900 * KiB]))) }),
  () => randomBytes(int(2048)),
  () => '',
  () => pick(['42', '"a string"', 'null', '[]', 'true', '{}', '[{"v":1}]']),
  (text) => Buffer.concat([Buffer.from(text.slice(0, text.length >> 1)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(text.slice(text.length >> 1))]),
  (_t, v) => `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},${JSON.stringify(v).slice(1)}`,
  (text) => text.replace(/"v":1/, pick(['"v":2', '"v":"1"', '"v":1.0000001', '"v":null'])),
  (text) => text,
];

export interface FuzzMessage {
  topic: FuzzTopic;
  payload: Buffer | string;
}

/** One message; the last few are kept for replays. */
export class FuzzSource {
  private readonly recent: FuzzMessage[] = [];

  constructor(private readonly ctx: FuzzContext) {}

  next(): FuzzMessage {
    if (this.recent.length && chance(0.03)) return pick(this.recent);
    const topic = pick<FuzzTopic>(['request', 'request', 'area', 'decision', 'decision', 'pair']);
    const value = baseMessage(topic, this.ctx) as Json;
    let payload: Buffer | string = JSON.stringify(value);
    const rounds = chance(0.05) ? 0 : 1 + int(2);
    for (let i = 0; i < rounds; i++) {
      let parsed: Json = value;
      // A previous round may have broken the JSON, or nested it too deep to walk: then mutate the original.
      if (payload.length < 64 * KiB) {
        try {
          parsed = JSON.parse(payload.toString()) as Json;
          paths(parsed);
        } catch {
          parsed = value;
        }
      }
      // Keep oversized messages rare: they are a handful of cases, not most of the traffic.
      let mutate = pick(mutations);
      while ((mutate === mutations[4] || mutate === mutations[6]) && !chance(0.1)) mutate = pick(mutations);
      payload = mutate(payload.toString(), structuredClone(parsed));
    }
    const message = { topic, payload };
    this.recent.push(message);
    if (this.recent.length > 20) this.recent.shift();
    return message;
  }
}
