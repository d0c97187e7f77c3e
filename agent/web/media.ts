/**
 * Clips and a fresh snapshot for enrolled owners only, on the agent's web port: the request needs
 * a media token signed by an enrolled, unrevoked owner key for exactly that clip (media-token.ts),
 * and the answer is an age file sealed to that owner's sealing key, so neither a LAN neighbour, nor
 * a sniffer on plain http, nor someone replaying the token gets a single frame.
 */
import { createReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Encrypter } from 'age-encryption';
import { fromB64url, isId, verifyEd25519 } from '../envelope/index.js';
import type { Logger } from '../log.js';
import { MAX_MEDIA_TOKEN_SECONDS, MEDIA_AUTH_SCHEME, mediaTokenBytes, parseMediaToken, type MediaResource } from './media-token.js';

export interface MediaOwner {
  /** Raw 32-byte Ed25519 public key. */
  signingKey: Uint8Array;
  sealingRecipient: string;
}

export interface MediaSourceDeps {
  deviceId: string;
  /** An enrolled, unrevoked owner's keys, or undefined. */
  owner(keyId: string): MediaOwner | undefined;
  clipFile(clipId: string): { path: string; bytes: number } | undefined;
  /** A picture of now (or the latest event's, when the camera cannot give one); undefined if none. */
  snapshot(): Promise<Buffer | undefined>;
  /** The newest rings and motion the store still holds clips of, newest first. */
  recentEvents(): { type: string; at: string; source: string; clipId: string; thumbnail?: string }[];
  refuse(reason: string, data: Record<string, unknown>): void;
  now(): number;
  log: Logger;
}

type Verdict = { ok: true; owner: MediaOwner } | { ok: false; status: 401 | 403; reason: string; keyId?: string };

export class MediaSource {
  constructor(private readonly deps: MediaSourceDeps) {}

  /** Handles `/clips/{clipId}` and `/snapshot`; false for any other path. */
  async serve(pathname: string, authorization: string | undefined, res: ServerResponse, head: boolean): Promise<boolean> {
    const clipMatch = /^\/clips\/([^/]+)$/.exec(pathname);
    if (!clipMatch && pathname !== '/snapshot' && pathname !== '/events') return false;
    const clipId = clipMatch ? decodeURIComponentSafe(clipMatch[1]!) : undefined;
    if (clipMatch && !isId(clipId)) return refuse(res, 403, 'forbidden\n');
    const resource: MediaResource = clipId ? `clip/${clipId}` : pathname === '/events' ? 'events' : 'snapshot';
    const verdict = this.check(authorization, resource);
    if (!verdict.ok) {
      this.deps.refuse(verdict.reason, { resource, ...(verdict.keyId ? { keyId: verdict.keyId } : {}) });
      if (verdict.status === 401) res.setHeader('WWW-Authenticate', MEDIA_AUTH_SCHEME);
      return refuse(res, verdict.status, verdict.status === 401 ? 'unauthorized\n' : 'forbidden\n');
    }
    const encrypter = new Encrypter();
    encrypter.addRecipient(verdict.owner.sealingRecipient);
    if (resource === 'events') {
      const sealed = await encrypter.encrypt(new TextEncoder().encode(JSON.stringify({ v: 2, events: this.deps.recentEvents() })));
      res.writeHead(200, headers(sealed.length));
      res.end(head ? undefined : sealed);
      return true;
    }
    if (!clipId) {
      const jpeg = await this.deps.snapshot();
      if (!jpeg) return refuse(res, 404, 'no snapshot yet\n');
      const sealed = await encrypter.encrypt(new Uint8Array(jpeg));
      res.writeHead(200, headers(sealed.length));
      res.end(head ? undefined : sealed);
      return true;
    }
    const clip = this.deps.clipFile(clipId);
    if (!clip) return refuse(res, 404, 'no such clip\n');
    const sealed = await encrypter.encrypt(Readable.toWeb(createReadStream(clip.path)) as ReadableStream<Uint8Array>);
    res.writeHead(200, headers(sealed.size(clip.bytes)));
    if (head) {
      await sealed.cancel();
      res.end();
      return true;
    }
    await new Promise<void>((done, fail) => {
      Readable.fromWeb(sealed as import('node:stream/web').ReadableStream<Uint8Array>)
        .on('error', fail)
        .pipe(res)
        .on('finish', done)
        .on('error', fail);
    });
    return true;
  }

  private check(authorization: string | undefined, resource: MediaResource): Verdict {
    const prefix = `${MEDIA_AUTH_SCHEME} `;
    if (!authorization?.startsWith(prefix)) return { ok: false, status: 401, reason: 'no-media-token' };
    const token = parseMediaToken(authorization.slice(prefix.length).trim());
    if (!token) return { ok: false, status: 403, reason: 'bad-media-token' };
    const nowSeconds = Math.floor(this.deps.now() / 1000);
    if (token.expires <= nowSeconds || token.expires > nowSeconds + MAX_MEDIA_TOKEN_SECONDS + 60) {
      return { ok: false, status: 403, reason: 'media-token-expired', keyId: token.keyId };
    }
    const owner = this.deps.owner(token.keyId);
    if (!owner) return { ok: false, status: 403, reason: 'unknown-signer', keyId: token.keyId };
    const sig = fromB64url(token.sig);
    if (!sig || !verifyEd25519(owner.signingKey, mediaTokenBytes(this.deps.deviceId, resource, token.expires), sig)) {
      return { ok: false, status: 403, reason: 'bad-signature', keyId: token.keyId };
    }
    return { ok: true, owner };
  }
}

function headers(length: number): Record<string, string | number> {
  return { 'Content-Type': 'application/age', 'Content-Length': length, 'Cache-Control': 'no-store' };
}

function refuse(res: ServerResponse, status: number, text: string): true {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
  return true;
}

function decodeURIComponentSafe(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    // Malformed percent-encoding names no clip.
    return undefined;
  }
}
