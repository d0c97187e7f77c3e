/** The board's HTTP API and pages (docs/protocol.md "Request board"). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_REQUEST_MESSAGE_BYTES } from '../requests/index.js';
import { feedItem, profile } from './board-feed.js';
import type { BoardLog } from './board-log.js';
import { CSP, homePage, profilePage, STYLESHEET } from './board-page.js';
import { Refused } from './board-intake.js';

export interface BoardRoutes {
  log: BoardLog;
  vkey: string;
  now(): number;
  postRequest(body: Buffer): Promise<{ index: number; topic: string }>;
  postWithdrawal(body: Buffer): { index: number };
}

const FEED_LIMIT = 100;
const LEAVES_LIMIT = 1000;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': CSP,
    ...extra,
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown): void => send(res, status, 'application/json', JSON.stringify(value));

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_MESSAGE_BYTES) throw new Refused(413, `at most ${MAX_REQUEST_MESSAGE_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const whole = (s: string | null | undefined): number | undefined => (s && /^\d{1,15}$/.test(s) ? Number(s) : undefined);

export async function handle(routes: BoardRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { log } = routes;
  const url = new URL(req.url ?? '/', 'http://board.invalid');
  const path = url.pathname;
  try {
    if (req.method === 'POST' && path === '/requests') {
      json(res, 201, await routes.postRequest(await readBody(req)));
      return;
    }
    if (req.method === 'POST' && path === '/withdrawals') {
      json(res, 201, routes.postWithdrawal(await readBody(req)));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refused(405, 'GET, or POST to /requests and /withdrawals');
    const summary = { size: log.size, vkey: routes.vkey };
    if (path === '/') {
      const items = log.newest(FEED_LIMIT).filter((e) => e.type === 'request').map((e) => feedItem(log, e));
      send(res, 200, 'text/html; charset=utf-8', homePage(items, summary));
      return;
    }
    if (path === '/board.css') return send(res, 200, 'text/css; charset=utf-8', STYLESHEET);
    // Browsers ask for it on every visit; no icon, and no error in their console.
    if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (path === '/feed.json') {
      const before = whole(url.searchParams.get('before'));
      const entries = log.newest(FEED_LIMIT, before).filter((e) => e.type === 'request');
      return json(res, 200, { size: log.size, items: entries.map((e) => feedItem(log, e)) });
    }
    if (path === '/checkpoint') return send(res, 200, 'text/plain; charset=utf-8', log.checkpoint()!);
    if (path === '/key') return send(res, 200, 'text/plain; charset=utf-8', `${routes.vkey}\n`);
    let m = /^\/requesters\/([0-9a-f]{16})(\.json)?$/.exec(path);
    if (m) {
      const p = profile(log, m[1]!, routes.now());
      if (m[2]) return json(res, 200, p);
      return send(res, 200, 'text/html; charset=utf-8', profilePage(p, summary));
    }
    m = /^\/proof\/(\d{1,15})$/.exec(path);
    if (m) {
      const index = Number(m[1]);
      const size = whole(url.searchParams.get('size')) ?? log.size;
      const entry = log.entry(index);
      if (!entry || size > log.size || index >= size) throw new Refused(404, `no entry ${index} in a log of ${size}`);
      return json(res, 200, {
        index,
        size,
        entry: Buffer.from(log.entryBytes(entry)).toString('base64'),
        inclusion: log.inclusion(index, size),
        checkpoint: log.checkpoint(size),
      });
    }
    m = /^\/consistency\/(\d{1,15})\/(\d{1,15})$/.exec(path);
    if (m) {
      const [from, to] = [Number(m[1]), Number(m[2])];
      if (from > to || to > log.size) throw new Refused(404, `sizes must satisfy old <= new <= ${log.size}`);
      return json(res, 200, { old: from, new: to, proof: log.consistency(from, to), checkpoint: log.checkpoint(to) });
    }
    if (path === '/leaves') {
      const from = whole(url.searchParams.get('from')) ?? 0;
      const to = Math.min(whole(url.searchParams.get('to')) ?? log.size, log.size, from + LEAVES_LIMIT);
      if (from > log.size) throw new Refused(404, `the log has ${log.size} entries`);
      return json(res, 200, { from, leaves: log.leaves(from, Math.max(from, to)) });
    }
    throw new Refused(404, 'not found');
  } catch (err) {
    if (err instanceof Refused) return json(res, err.status, { error: err.message });
    json(res, 500, { error: 'internal error' });
    throw err;
  }
}
