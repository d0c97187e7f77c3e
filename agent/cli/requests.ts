import { readFileSync } from 'node:fs';
import { iso } from '../clock.js';
import { topicsFor } from '../mqtt/index.js';
import { newId } from '../ids.js';
import { readKeyFile } from '../owner/index.js';
import {
  encodeGeohash,
  idBelongsTo,
  REQUEST_DOMAIN,
  RequestTable,
  signEnvelope,
  WITHDRAWAL_DOMAIN,
  type RequestRow,
  type SignedEnvelope,
} from '../requests/index.js';
import { openCliDatabase } from './database.js';
import type { Config } from '../config.js';
import { connectBroker } from './broker.js';
import { UsageError, configFrom, configOption, jsonOption, print, printJson, type Command } from './command.js';

/** The stable `--json` shape of a request (documented in the README). */
export function requestJson(r: RequestRow): Record<string, unknown> {
  return {
    id: r.id,
    state: r.state,
    detail: r.detail,
    receivedAt: iso(r.receivedAt),
    topic: r.topic,
    requester: { ...r.request.requester, keyId: r.requesterKeyId, ...(r.trust.vouchedBy ? { vouchedBy: r.trust.vouchedBy } : {}) },
    reason: r.request.reason,
    window: r.request.window,
    destinationHost: new URL(r.request.upload.url).host,
    expiresAt: r.request.expiresAt,
    clips: r.clips.map((c) => c.id),
    approvedClips: r.approvedClipIds,
    attempts: r.attempts,
  };
}

function readRequests<T>(config: Config, use: (table: RequestTable) => T): T {
  const db = openCliDatabase(config, { readonly: true });
  try {
    const table = new RequestTable(db);
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests'").get();
    if (!exists) throw new Error('no request has been received yet');
    table.prepare();
    return use(table);
  } finally {
    db.close();
  }
}

export const requests: Command = {
  usage: 'requests ls [--json] [--limit N] | requests show ID [--json]',
  summary: 'the requests this doorbell received and what became of them',
  options: { ...configOption, ...jsonOption, limit: { type: 'string' } },
  async run(args, flags) {
    const config = configFrom(flags);
    const [sub, id] = args;
    if (sub === 'ls') {
      const limit = flags.limit ? Number(flags.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive whole number', 'requests');
      const rows = readRequests(config, (t) => t.list(limit));
      if (flags.json) printJson(rows.map(requestJson));
      else if (rows.length === 0) print('no requests');
      else {
        for (const r of rows) {
          print(`${r.id.padEnd(24)} ${r.state.padEnd(10)} ${iso(r.receivedAt)}  ${r.request.requester.kind.padEnd(8)} ${r.request.requester.name}`);
        }
      }
      return 0;
    }
    if (sub === 'show') {
      if (!id) throw new UsageError('requests show needs the request ID', 'requests');
      const row = readRequests(config, (t) => t.get(id));
      if (!row) throw new Error(`no request ${id}`);
      if (flags.json) printJson(requestJson(row));
      else for (const [k, v] of Object.entries(requestJson(row))) print(`${k.padEnd(16)} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'which one: ls or show?', 'requests');
  },
};

/** The payload as the requester wrote it, completed: v 2, an id in the key's namespace. */
function requestPayload(file: string, keyId: string): Record<string, unknown> {
  const body = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const id = typeof body.id === 'string' ? body.id : newId();
  return { ...body, v: 2, id: idBelongsTo(id, keyId) ? id : `${keyId}.${id}` };
}

async function postJson(url: URL, body: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`the board answered ${response.status} with no JSON: ${text.slice(0, 200)}`);
  }
  if (!response.ok) throw new Error(`the board refused it (${response.status}): ${String(answer.error ?? text.slice(0, 200))}`);
  return answer;
}

export const request: Command = {
  usage:
    'request send FILE.json --key FILE [--board URL | --area] [--vouch FILE]\n' +
    '         | request withdraw REQUEST_ID --key FILE --board URL',
  summary: 'act as a requester: sign a request, post it on a public request board (or publish it directly), or withdraw it',
  options: { ...configOption, area: { type: 'boolean' }, key: { type: 'string' }, board: { type: 'string' }, vouch: { type: 'string' } },
  async run(args, flags) {
    const [sub, arg] = args;
    if (sub !== 'send' && sub !== 'withdraw') throw new UsageError('which one: send or withdraw?', 'request');
    if (!arg) throw new UsageError(sub === 'send' ? 'request send needs FILE.json' : 'request withdraw needs REQUEST_ID', 'request');
    if (typeof flags.key !== 'string') throw new UsageError('a request is signed: --key FILE (from doorbell requester keygen)', 'request');
    const key = readKeyFile(flags.key);
    const board = typeof flags.board === 'string' ? new URL(flags.board.endsWith('/') ? flags.board : `${flags.board}/`) : undefined;
    if (sub === 'withdraw') {
      if (!board) throw new Error('a withdrawal goes through the board: --board URL');
      const id = idBelongsTo(arg, key.keyId) ? arg : `${key.keyId}.${arg}`;
      const env = signEnvelope(WITHDRAWAL_DOMAIN, key.privateKey, key.publicKeyRaw, JSON.stringify({ v: 2, id, at: iso(Date.now()) }));
      const answer = await postJson(new URL('withdrawals', board), JSON.stringify({ v: 2, ...env }));
      print(`withdrew ${id}: board entry ${String(answer.index)} (the request stays on the board, marked withdrawn)`);
      return 0;
    }
    const payload = requestPayload(arg, key.keyId);
    const vouch = typeof flags.vouch === 'string' ? (JSON.parse(readFileSync(flags.vouch, 'utf8')) as SignedEnvelope) : undefined;
    const message = JSON.stringify({
      v: 2,
      ...signEnvelope(REQUEST_DOMAIN, key.privateKey, key.publicKeyRaw, JSON.stringify(payload)),
      ...(vouch ? { vouch } : {}),
    });
    if (board) {
      const answer = await postJson(new URL('requests', board), message);
      print(`posted ${String(payload.id)}: board entry ${String(answer.index)}, relay topic ${String(answer.topic)}`);
      print(`public at ${new URL(`requesters/${key.keyId}`, board).href}`);
      return 0;
    }
    const config = configFrom(flags);
    const topics = topicsFor(config.mqtt.prefix, config.device.id);
    let topic = topics.request;
    if (flags.area) {
      const area = payload.area as { lat?: number; lon?: number } | undefined;
      if (typeof area?.lat !== 'number' || typeof area.lon !== 'number') throw new Error('--area needs an "area" with lat and lon in the request');
      topic = topics.areaRequest(encodeGeohash(area.lat, area.lon, 5));
    }
    const client = await connectBroker(config, 'requester');
    try {
      await client.publishAsync(topic, message, { qos: 1 });
    } finally {
      await client.endAsync();
    }
    // By design a requester hears nothing back unless the owner approves and the upload succeeds.
    print(`sent ${String(payload.id)} to ${topic}`);
    return 0;
  },
};
