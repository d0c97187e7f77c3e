/**
 * The upload client (PROTOCOL.md "Upload"): one PUT of the bundle to the checked destination. It
 * connects only to the addresses checkDestination approved (no second DNS lookup that could answer
 * differently), never follows a redirect, and reads at most 64 KiB of any answer.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { BundleError, type ChunkWriter } from './bundle-writer.js';
import { DestinationError, type CheckedDestination } from './destination.js';

const MAX_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_STALL_MS = 60_000;
const PROGRESS_INTERVAL_MS = 500;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 5 * 60 * 1000;

export interface UploadBody {
  length: number;
  writeTo(write: ChunkWriter): Promise<void>;
}

export interface UploadOptions {
  timeoutMs: number;
  /** An attempt with no byte moving either way for this long fails (a receiver that hangs); 60 s. */
  stallMs?: number;
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
  /** Paces the progress callback; the system clock unless a test drives it. */
  clock?: Clock;
}

export type UploadErrorKind = 'timeout' | 'stalled' | 'network' | 'certificate' | 'aborted' | 'length-mismatch';

/** TLS verification failures: retrying cannot fix them, so the attempt fails for good at once. */
const CERTIFICATE_ERRORS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export class UploadError extends Error {
  constructor(
    readonly kind: UploadErrorKind,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'UploadError';
  }
}

export type UploadOutcome = 'done' | 'retry' | 'fail';

/** Connects to the already checked addresses, whatever name the socket layer asks about. */
function checkedLookup(dest: CheckedDestination): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? dest.addresses.filter((a) => a.family === options.family) : dest.addresses;
    const first = wanted[0];
    if (!first) {
      callback(Object.assign(new Error(`no checked IPv${String(options.family)} address for ${dest.host}`), { code: 'ENOTFOUND' }), '');
    } else if (options.all) {
      callback(null, wanted.map((a) => ({ address: a.address, family: a.family })));
    } else {
      callback(null, first.address, first.family);
    }
  };
}

function asUploadFailure(err: Error): Error {
  if (err instanceof UploadError || err instanceof BundleError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && CERTIFICATE_ERRORS.has(code)) {
    return new UploadError('certificate', `TLS certificate refused (${code}): ${err.message}`, { cause: err });
  }
  return new UploadError('network', code ? `${code}: ${err.message}` : err.message, { cause: err });
}

/**
 * One PUT of `body` to `dest`. Resolves with the HTTP status (a 3xx included: redirects are not
 * followed); rejects on network errors, timeout, abort, or a bundle that changed while being sent.
 */
export function putBundle(dest: CheckedDestination, body: UploadBody, opts: UploadOptions): Promise<{ status: number }> {
  if (dest.addresses.length === 0) return Promise.reject(new UploadError('network', `no checked address for ${dest.host}`));
  if (opts.signal?.aborted) return Promise.reject(new UploadError('aborted', 'upload aborted before it started'));
  const https = dest.url.protocol === 'https:';
  const options: RequestOptions & { servername?: string } = {
    method: 'PUT',
    host: dest.host,
    port: dest.port,
    path: dest.url.pathname + dest.url.search,
    headers: { 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) },
    lookup: checkedLookup(dest),
    agent: false,
    // SNI and certificate checks use the host name; an IP literal is not a valid server name.
    ...(https && !isIP(dest.host) ? { servername: dest.host } : {}),
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    let req: ClientRequest | undefined;
    let lastProgress: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      req?.destroy(new UploadError('timeout', `no complete answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    // Re-armed whenever a chunk goes out or an answer comes in: only a silent connection trips it.
    const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    const stall = setTimeout(() => {
      req?.destroy(new UploadError('stalled', `no byte moved for ${stallMs / 1000} s`));
    }, stallMs);
    const moved = (): void => void stall.refresh();
    const onAbort = (): void => {
      req?.destroy(new UploadError('aborted', 'upload aborted'));
    };
    const finish = (err: Error | null, status?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(stall);
      clearTimeout(lastProgress);
      opts.signal?.removeEventListener('abort', onAbort);
      // Stops sending when the server answered early: the writes still queued fail, and the bundle
      // closes the clip file it reads.
      req?.destroy();
      if (err) reject(asUploadFailure(err));
      else resolve({ status: status! });
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    req = (https ? httpsRequest : httpRequest)(options);
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let received = 0;
      moved();
      res.on('data', (chunk: Buffer) => {
        moved();
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) {
          res.destroy();
          finish(null, status);
        }
      });
      res.on('end', () => finish(null, status));
      res.on('error', (err) => finish(err));
    });

    const clock = opts.clock ?? systemClock;
    let sent = 0;
    let reported = 0;
    let lastReport = clock.now();
    const report = (): void => {
      lastReport = clock.now();
      reported = sent;
      opts.onProgress?.(sent, body.length);
    };
    // Straight onto the request: its callback says the socket took the chunk (or failed, also when
    // the request is destroyed first), so the bundle may reuse the buffer.
    const write = (chunk: Buffer): Promise<void> => {
      if (sent + chunk.length > body.length) throw new UploadError('length-mismatch', `bundle is longer than its Content-Length ${body.length}`);
      sent += chunk.length;
      if (clock.now() - lastReport >= PROGRESS_INTERVAL_MS) report();
      return new Promise<void>((resolveWrite, rejectWrite) => {
        req.write(chunk, (err) => {
          if (err) return rejectWrite(err);
          moved();
          resolveWrite();
        });
      });
    };
    (async () => {
      await body.writeTo(write);
      if (sent !== body.length) throw new UploadError('length-mismatch', `bundle is ${sent} bytes, its Content-Length ${body.length}`);
      req.end();
      // "All sent, waiting for the answer", at the same pace: an answer that comes first makes it moot.
      if (!settled && reported < sent) lastProgress = setTimeout(report, Math.max(0, lastReport + PROGRESS_INTERVAL_MS - clock.now()));
    })().catch((err: Error) => finish(err));
  });
}

/** What to do after an attempt: 2xx done; network trouble, 408, 429 and 5xx retry; the rest fail. */
export function classifyUploadResult(result: number | Error): UploadOutcome {
  if (typeof result === 'number') {
    if (result >= 200 && result < 300) return 'done';
    if (result === 408 || result === 429 || (result >= 500 && result < 600)) return 'retry';
    return 'fail';
  }
  if (result instanceof BundleError) return 'fail';
  if (result instanceof UploadError && (result.kind === 'length-mismatch' || result.kind === 'certificate')) return 'fail';
  if (result instanceof DestinationError) return result.reason === 'unresolvable' ? 'retry' : 'fail';
  return 'retry';
}

/**
 * Delay before retry number `attempt` (1 after the first failure): 1 s doubling to a 5 min cap,
 * with "equal jitter" — half the step fixed, half random — so retries spread out yet never
 * collapse to zero the way full jitter can.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  const step = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}
