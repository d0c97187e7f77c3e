/**
 * A local stand-in for a requester's upload URL, for demos and tests. It records every HTTP request
 * it sees (so a test can prove none arrived), saves accepted bundles and checks them with
 * verifyBundle. CLI: node dist/scripts/evidence-receiver.js --port 8090 --dir ./received [--owner-key KEY]
 */
import { createHash } from 'node:crypto';
import { createWriteStream, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { verifyBundle, type BundleVerification } from '../agent/requests/bundle.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Body bytes received so far. */
  bytes: number;
  /** The status answered (or to be answered once the body is in). */
  status: number;
  /** Set once the whole body arrived. */
  sha256?: string;
  savedAs?: string;
  verification?: BundleVerification;
  /** Why the body did not arrive completely (the client went away). */
  error?: string;
}

export interface ReceiverOptions {
  port?: number;
  host?: '127.0.0.1';
  /** Where accepted (2xx) PUT bodies are saved as bundle-{n}.tar; nothing is saved without it. */
  dir?: string;
  /** Status to answer the nth request (1-based), e.g. 503, 503, 200; 200 when absent. */
  respond?: (n: number) => number;
  /** Answer every request with a 302 to this location. */
  redirectTo?: string;
  /** Checks the approval signature in saved bundles too. */
  ownerPublicKey?: string;
  /** Called when a request has been answered (or its body broke off). */
  onRequest?: (request: ReceivedRequest) => void;
}

export interface EvidenceReceiver {
  url(path?: string): string;
  requests: ReceivedRequest[];
  stop(): Promise<void>;
}

async function receive(req: IncomingMessage, res: ServerResponse, record: ReceivedRequest, n: number, opts: ReceiverOptions): Promise<void> {
  const save = opts.dir && req.method === 'PUT' && record.status >= 200 && record.status < 300;
  const target = save ? join(opts.dir!, `bundle-${n}.tar`) : undefined;
  const hash = createHash('sha256');
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      record.bytes += chunk.length;
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const sink = target
    ? createWriteStream(`${target}.part`)
    : new Writable({ write: (_chunk, _encoding, callback) => callback() });
  try {
    await pipeline(req, counter, sink);
  } catch (err) {
    record.error = (err as Error).message;
    if (target) await rm(`${target}.part`, { force: true });
    opts.onRequest?.(record);
    return;
  }
  record.sha256 = hash.digest('hex');
  if (target) {
    await rename(`${target}.part`, target);
    record.savedAs = target;
    record.verification = verifyBundle(await readFile(target), opts.ownerPublicKey ? { ownerPublicKey: opts.ownerPublicKey } : {});
  }
  if (opts.redirectTo) res.setHeader('Location', opts.redirectTo);
  res.writeHead(record.status, { 'Content-Type': 'text/plain' });
  res.end(`${record.status}\n`);
  opts.onRequest?.(record);
}

export async function startEvidenceReceiver(opts: ReceiverOptions = {}): Promise<EvidenceReceiver> {
  if (opts.dir) await mkdir(opts.dir, { recursive: true });
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const n = requests.length + 1;
    const status = opts.redirectTo ? 302 : (opts.respond?.(n) ?? 200);
    const record: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, bytes: 0, status };
    requests.push(record);
    receive(req, res, record, n, opts).catch((err: unknown) => {
      record.error = (err as Error).message;
      res.destroy();
      opts.onRequest?.(record);
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/') => `http://${host}:${port}${path}`,
    requests,
    stop: () =>
      new Promise<void>((resolvePromise, reject) => {
        server.close((err) => (err ? reject(err) : resolvePromise()));
        server.closeAllConnections();
      }),
  };
}

export function describeReceived(record: ReceivedRequest): string {
  const head = `${record.method} ${record.path} → ${record.status}, ${record.bytes} bytes`;
  if (record.error) return `${head}, broke off: ${record.error}`;
  if (!record.verification) return head;
  const { ok, manifest, problems } = record.verification;
  const what = manifest ? ` (request ${manifest.requestId} from ${manifest.device}, ${manifest.clips.length} clip(s))` : '';
  return ok
    ? `${head}, saved as ${record.savedAs}: manifest verifies${what}`
    : `${head}, saved as ${record.savedAs}: DOES NOT VERIFY${what}\n  ${problems.join('\n  ')}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8090' },
      dir: { type: 'string', default: './received' },
      'owner-key': { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be 1..65535, got ${values.port}`);
  const receiver = await startEvidenceReceiver({
    port,
    dir: resolve(values.dir),
    ...(values['owner-key'] ? { ownerPublicKey: values['owner-key'] } : {}),
    onRequest: (record) => console.log(describeReceived(record)),
  });
  console.log(`evidence receiver listening on ${receiver.url()}, saving bundles to ${resolve(values.dir)}`);
  const shutdown = (): void => {
    receiver.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
