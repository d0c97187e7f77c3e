/**
 * Serves the owner's phone app on the LAN, over HTTPS when given a certificate: its static files, its
 * config, and clips and snapshots sealed to enrolled owners (media.ts). Nothing on this port can
 * change state: only GET and HEAD are answered.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { MediaSource } from './media.js';

export interface AppConfig {
  deviceId: string;
  deviceName: string;
  prefix: string;
  /** The broker's MQTT-over-WebSocket URL as the phone reaches it. */
  brokerWsUrl: string;
  /** The device's VAPID public key (base64url P-256 point): the phone subscribes to pushes with it. */
  pushPublicKey?: string;
}

/** Paths of PEM files (`web.tls`); relative paths are taken from the working directory. */
export interface TlsFiles {
  cert: string;
  key: string;
}

export interface WebServerDeps {
  /** `HOST:PORT`, e.g. `127.0.0.1:8080` or `[::1]:8080`; port 0 picks a free one. */
  listen: string;
  /** Serve HTTPS with this certificate and key, read once at start. */
  tls?: TlsFiles;
  /** The built app: `dist/web` (see `webAssetsDir`). */
  staticDir: string;
  appConfig: () => AppConfig;
  /** Clips and the snapshot for enrolled owners (`/clips/{id}`, `/snapshot`): token-checked, sealed to the owner. */
  media?: MediaSource;
  log: Logger;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The built app next to the compiled server (dist/agent/web → dist/web), or dist/web when run from
 * source (agent/web → dist/web) or from the bundled command line (dist/agent/chunk-*.js). `from` is
 * this module's URL; tests pass another layout's.
 */
export function webAssetsDir(from: string | URL = import.meta.url): string {
  const candidates = [new URL('../../web/', from), new URL('../../dist/web/', from)].map((u) => fileURLToPath(u));
  const found = candidates.find((dir) => existsSync(resolve(dir, 'index.html')));
  if (!found) throw new Error(`the phone app is not built (no index.html in ${candidates.join(' or ')}): run \`npm run build\``);
  return resolve(found);
}

/** The Content-Security-Policy of every response; `connect-src` names the broker's origin when it parses. */
function contentSecurityPolicy(brokerWsUrl: string | undefined): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    // Clips the app decrypted itself play from blob: URLs.
    "media-src 'self' blob:",
    `connect-src 'self' ${brokerOrigin(brokerWsUrl) ?? 'ws: wss:'}`,
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'none'",
  ].join('; ');
}

function brokerOrigin(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'ws:' || parsed.protocol === 'wss:' ? `${parsed.protocol}//${parsed.host}` : undefined;
  } catch {
    // Not a URL: the policy falls back to any ws:/wss: origin rather than breaking the app.
    return undefined;
  }
}

/** Reads and checks the certificate and key, so a bad file stops the start with a message naming it. */
async function loadTls(files: TlsFiles, log: Logger): Promise<{ cert: Buffer; key: Buffer; names: string[] }> {
  const read = async (which: keyof TlsFiles): Promise<{ path: string; pem: Buffer }> => {
    const path = resolve(files[which]);
    try {
      return { path, pem: await readFile(path) };
    } catch (err) {
      throw new Error(`web.tls.${which}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const cert = await read('cert');
  const key = await read('key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert.pem);
  } catch (err) {
    throw new Error(`web.tls.cert: ${cert.path} is not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key.pem);
  } catch (err) {
    throw new Error(`web.tls.key: ${key.path} is not a PEM private key (${(err as Error).message})`);
  }
  const keyType = certificate.publicKey.asymmetricKeyType;
  if (keyType === 'ed25519' || keyType === 'ed448') {
    // Chromium and Safari offer no EdDSA signature scheme in TLS: the handshake fails outright.
    throw new Error(`web.tls.cert: ${cert.path} has an ${keyType} key, which browsers do not accept for HTTPS: make an ECDSA P-256 (or RSA) certificate`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error(`web.tls: the key in ${key.path} does not belong to the certificate in ${cert.path}`);
  }
  if (Date.parse(certificate.validTo) < Date.now()) {
    log.warn('the phone app certificate has expired: phones will refuse the page', { cert: cert.path, validTo: certificate.validTo });
  }
  return { cert: cert.pem, key: key.pem, names: certificateNames(certificate) };
}

/** The DNS names and IP addresses a certificate is for (wildcard names name no one host). */
function certificateNames(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? '')
    .split(', ')
    .map((entry) => /^(?:DNS:([^*\s]+)|IP Address:(\S+))$/.exec(entry))
    .flatMap((m) => (m ? [m[1] ?? hostForUrl(m[2]!)] : []));
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** The hosts browsers treat as potentially trustworthy over plain http. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Whether the browser that sent `req` counts this page as a secure context. */
function secureForBrowser(req: IncomingMessage, tls: boolean): boolean {
  if (tls) return true;
  try {
    return isLoopbackHost(new URL(`http://${req.headers.host ?? ''}`).hostname);
  } catch {
    // An unparseable Host header: treat the page as insecure.
    return false;
  }
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`web.listen must be HOST:PORT, e.g. 127.0.0.1:8080, not ${JSON.stringify(listen)}`);
  return { host: match[1] ?? match[2]!, port };
}

export class WebServer {
  private server: Server | HttpsServer | null = null;
  private readonly root: string;
  private certificateNames: string[] = [];

  constructor(private readonly deps: WebServerDeps) {
    this.root = resolve(deps.staticDir);
  }

  /** The address the server listens on, once started: `http://HOST:PORT`, or `https://…` with `tls`. */
  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('WebServer.url used before start()');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.deps.tls ? 'https' : 'http'}://${host}:${address.port}`;
  }

  /**
   * The origins the app's pages have, once started: this address (every loopback name on loopback;
   * every address of this machine on 0.0.0.0 or ::), this machine's name and `NAME.local` off
   * loopback, and the certificate's names.
   */
  origins(): string[] {
    const url = new URL(this.url);
    const { host } = parseListen(this.deps.listen);
    const hosts = new Set<string>(this.certificateNames);
    if (isLoopbackHost(host)) {
      for (const name of ['localhost', '127.0.0.1', '[::1]']) hosts.add(name);
    } else {
      hosts.add(hostname()).add(`${hostname()}.local`);
      if (host === '0.0.0.0' || host === '::') {
        hosts.add('localhost');
        for (const address of Object.values(networkInterfaces()).flat()) {
          // Link-local IPv6 needs a zone, which no URL a phone opens carries.
          if (address && !address.address.startsWith('fe80:')) hosts.add(hostForUrl(address.address));
        }
      } else {
        hosts.add(hostForUrl(host));
      }
    }
    return [...hosts].map((h) => new URL(`${url.protocol}//${h}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`).origin);
  }

  async start(): Promise<void> {
    const { host, port } = parseListen(this.deps.listen);
    if (!existsSync(resolve(this.root, 'index.html'))) {
      throw new Error(`no phone app in ${this.root} (index.html is missing): run \`npm run build\``);
    }
    const tls = this.deps.tls ? await loadTls(this.deps.tls, this.deps.log) : undefined;
    this.certificateNames = tls?.names ?? [];
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: Error) => {
        this.deps.log.error('web request failed', { path: req.url, error: err.message });
        if (!res.headersSent) this.sendText(res, 500, 'internal error\n');
        else res.destroy(err);
      });
    };
    const server = tls ? createHttpsServer(tls, onRequest) : createServer(onRequest);
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new Error(`web port ${this.deps.listen} is already in use`) : err),
      );
      server.listen(port, host, () => resolveListen());
    });
    this.server = server;
    this.deps.log.info('phone app served', { url: this.url });
    this.warnAboutInsecureSetups(host);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }

  /** Phones treat a plain-http page on the LAN as insecure, and block ws:// from an HTTPS page. */
  private warnAboutInsecureSetups(host: string): void {
    if (!this.deps.tls && !isLoopbackHost(host)) {
      this.deps.log.warn('the phone app is served over plain http on the network: it works, but shows a warning; set web.tls (see the README)');
    }
    let brokerWsUrl = '';
    try {
      brokerWsUrl = this.deps.appConfig().brokerWsUrl;
    } catch (err) {
      this.deps.log.warn('app config unavailable', { error: (err as Error).message });
    }
    const brokerHost = brokerOrigin(brokerWsUrl) ? new URL(brokerWsUrl).hostname : '';
    if (this.deps.tls && brokerWsUrl.startsWith('ws://') && !isLoopbackHost(brokerHost)) {
      this.deps.log.warn('the phone app is served over HTTPS but the broker over ws://: browsers block that; give the broker a wss:// listener and set web.brokerWsUrl', {
        brokerWsUrl,
      });
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.setSecurityHeaders(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.sendText(res, 405, 'method not allowed: this port only serves the phone app\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (pathname === '/config.json') return this.sendJson(req, res, this.deps.appConfig());
    if (this.deps.media && (await this.deps.media.serve(pathname, req.headers.authorization, res, req.method === 'HEAD'))) return;
    const file = this.resolveFile(pathname);
    if (!file) return this.sendText(res, 404, 'not found\n');
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (!info?.isFile()) return this.sendText(res, 404, 'not found\n');
    const etag = `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
    res.setHeader('ETag', etag);
    // The app updates with the agent: let the browser keep files but revalidate every time.
    res.setHeader('Cache-Control', 'no-cache');
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((done, fail) => {
      createReadStream(file).on('error', fail).pipe(res).on('finish', done).on('error', fail);
    });
  }

  /** The file a URL path names inside the static folder, or undefined: no escaping it, no hidden files. */
  private resolveFile(pathname: string): string | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      // Malformed percent-encoding names no file.
      return undefined;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
    if (decoded.split('/').some((segment) => segment.startsWith('.'))) return undefined;
    const file = resolve(this.root, `.${decoded === '/' ? '/index.html' : decoded}`);
    return file.startsWith(this.root + sep) ? file : undefined;
  }

  private setSecurityHeaders(req: IncomingMessage, res: ServerResponse): void {
    let brokerWsUrl: string | undefined;
    try {
      brokerWsUrl = this.deps.appConfig().brokerWsUrl;
    } catch (err) {
      this.deps.log.warn('app config unavailable for the security policy', { error: (err as Error).message });
    }
    res.setHeader('Content-Security-Policy', contentSecurityPolicy(brokerWsUrl));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    // Browsers ignore COOP on an insecure page, and say so in the console: send it only where it counts.
    if (secureForBrowser(req, this.deps.tls !== undefined)) res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  }

  private sendJson(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  private sendText(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
    res.end(text);
  }
}
