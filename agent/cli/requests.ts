import { readFileSync } from 'node:fs';
import { iso } from '../clock.js';
import { topicsFor } from '../mqtt/index.js';
import { encodeGeohash, RequestTable, type RequestRow } from '../requests/index.js';
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
    requester: r.request.requester,
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

export const request: Command = {
  usage: 'request send FILE.json [--area]',
  summary: "act as a requester: publish a request to this doorbell (or, with --area, to the area's cell)",
  options: { ...configOption, area: { type: 'boolean' } },
  async run(args, flags) {
    const [sub, file] = args;
    if (sub !== 'send' || !file) throw new UsageError(sub === 'send' ? 'request send needs FILE.json' : 'which one: send?', 'request');
    const config = configFrom(flags);
    const text = readFileSync(file, 'utf8');
    const body = JSON.parse(text) as { id?: string; area?: { lat: number; lon: number } };
    const topics = topicsFor(config.mqtt.prefix, config.device.id);
    let topic = topics.request;
    if (flags.area) {
      if (!body.area) throw new Error('--area needs an "area" with lat and lon in the request');
      topic = topics.areaRequest(encodeGeohash(body.area.lat, body.area.lon, 5));
    }
    const client = await connectBroker(config, 'requester');
    try {
      await client.publishAsync(topic, text, { qos: 1 });
    } finally {
      await client.endAsync();
    }
    // By design a requester hears nothing back unless the owner approves and the upload succeeds.
    print(`sent ${body.id ?? '(no id)'} to ${topic}`);
    return 0;
  },
};
