import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { WebServer, webAssetsDir } from '../../agent/web/index.js';
import { buildPhoneApp } from './app-driver.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: node:http sends the path exactly as given, so traversal attempts reach the server unchanged. */
function send(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

const appConfig = { deviceId: 'frontdoor', deviceName: 'Front door', prefix: 'doorbell', brokerWsUrl: 'ws://127.0.0.1:8884' };
let server: WebServer;
let dir: string;
let staticDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-server-'));
  staticDir = buildPhoneApp(join(dir, 'web'));
  server = new WebServer({ listen: '127.0.0.1:0', staticDir, appConfig: () => appConfig, log: silentLogger });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('WebServer', () => {
  it('serves the app shell with the right content types', async () => {
    const index = await send(server.url, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('<script type="module" src="/app.js"></script>');
    expect((await send(server.url, 'GET', '/app.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await send(server.url, 'GET', '/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await send(server.url, 'GET', '/manifest.webmanifest')).headers['content-type']).toBe('application/manifest+json; charset=utf-8');
    expect((await send(server.url, 'GET', '/icon-192.png')).headers['content-type']).toBe('image/png');
    const head = await send(server.url, 'HEAD', '/app.js');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1000);
  });

  it('revalidates with an ETag instead of resending', async () => {
    const first = await send(server.url, 'GET', '/style.css');
    expect(first.headers['cache-control']).toBe('no-cache');
    const again = await send(server.url, 'GET', '/style.css', { 'If-None-Match': String(first.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('puts the strict security headers on every response, errors included', async () => {
    const replies = await Promise.all([
      send(server.url, 'GET', '/'),
      send(server.url, 'GET', '/config.json'),
      send(server.url, 'GET', '/no-such-file.js'),
      send(server.url, 'POST', '/config.json'),
      send(server.url, 'GET', '/../package.json'),
    ]);
    for (const reply of replies) {
      const csp = String(reply.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("style-src 'self';");
      expect(csp).toContain("img-src 'self' data: blob:;");
      expect(csp).toContain("media-src 'self' blob:;");
      expect(csp).toContain("connect-src 'self' ws://127.0.0.1:8884;");
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("base-uri 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'none'");
      expect(csp).not.toContain('unsafe');
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(reply.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('sends Cross-Origin-Opener-Policy only where the browser honours it (a loopback page), not to a page it calls insecure', async () => {
    expect((await send(server.url, 'GET', '/')).headers['cross-origin-opener-policy']).toBe('same-origin');
    expect((await send(server.url, 'GET', '/', { Host: 'localhost:8080' })).headers['cross-origin-opener-policy']).toBe('same-origin');
    const lan = await send(server.url, 'GET', '/', { Host: '192.168.1.20:8080' });
    expect(lan.status).toBe(200);
    expect(lan.headers['cross-origin-opener-policy']).toBeUndefined();
    expect(String(lan.headers['content-security-policy'])).toContain("script-src 'self'");
  });

  it('changes nothing: anything but GET and HEAD is 405', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const reply = await send(server.url, method, '/config.json');
      expect(reply.status).toBe(405);
      expect(reply.headers.allow).toBe('GET, HEAD');
    }
  });

  it('never serves a file outside the app folder, however the path is spelled', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/%2E%2E%2Fpackage.json', '/..%2f..%2fpackage.json', '/.%2e/.%2e/package.json', '/..\\package.json', '/%00index.html']) {
      const reply = await send(server.url, 'GET', path);
      expect(reply.status, path).toBe(404);
      expect(reply.body, path).not.toContain('doorbell-agent');
    }
  });

  it('lists no directories and hides dotfiles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'web-static-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
      writeFileSync(join(dir, '.env'), 'SECRET=1');
      mkdirSync(join(dir, 'clips'));
      writeFileSync(join(dir, 'clips', 'a.txt'), 'a');
      const other = new WebServer({ listen: '127.0.0.1:0', staticDir: dir, appConfig: () => appConfig, log: silentLogger });
      await other.start();
      try {
        expect((await send(other.url, 'GET', '/clips/')).status).toBe(404);
        expect((await send(other.url, 'GET', '/clips')).status).toBe(404);
        expect((await send(other.url, 'GET', '/.env')).status).toBe(404);
        expect((await send(other.url, 'GET', '/clips/a.txt')).body).toBe('a');
      } finally {
        await other.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the origins its pages have on loopback: every loopback name, nothing else', () => {
    const port = new URL(server.url).port;
    expect(server.origins().sort()).toEqual([`http://127.0.0.1:${port}`, `http://[::1]:${port}`, `http://localhost:${port}`]);
  });

  it('serves the app config, never cached, and no pairing window (the code never crosses HTTP)', async () => {
    const config = await send(server.url, 'GET', '/config.json');
    expect(config.status).toBe(200);
    expect(config.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(config.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(config.body)).toEqual(appConfig);
    expect((await send(server.url, 'GET', '/pairing.json')).status).toBe(404);
  });
});

describe('webAssetsDir', () => {
  it('finds dist/web from the compiled server (dist/agent/web), the bundle (dist/agent) and the sources (agent/web)', () => {
    const root = join(dir, 'checkout');
    mkdirSync(join(root, 'dist/web'), { recursive: true });
    writeFileSync(join(root, 'dist/web/index.html'), '');
    expect(webAssetsDir(pathToFileURL(join(root, 'dist/agent/web/server.js')))).toBe(join(root, 'dist/web'));
    expect(webAssetsDir(pathToFileURL(join(root, 'dist/agent/chunk-ABCD1234.js')))).toBe(join(root, 'dist/web'));
    expect(webAssetsDir(pathToFileURL(join(root, 'agent/web/server.ts')))).toBe(join(root, 'dist/web'));
  });

  it('says to build when there is no app', () => {
    expect(() => webAssetsDir(pathToFileURL(join(dir, 'nowhere/agent/web/server.ts')))).toThrow(/npm run build/);
  });
});

describe('WebServer.start', () => {
  it('refuses an address that is not HOST:PORT', async () => {
    const bad = new WebServer({ listen: 'example.com:80', staticDir, appConfig: () => appConfig, log: silentLogger });
    await expect(bad.start()).rejects.toThrow(/HOST:PORT/);
  });
});

describe('WebServer over HTTPS (web.tls)', () => {
  /** A self-signed certificate for 127.0.0.1 with `newkey` (e.g. `ec -pkeyopt ec_paramgen_curve:prime256v1`). */
  function certificate(name: string, newkey: string[]): { cert: string; key: string } {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    execFileSync('openssl', ['req', '-x509', '-newkey', ...newkey, '-nodes', '-days', '1', '-subj', '/CN=doorbell.lan', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
    return { cert, key };
  }
  const p256 = ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  const withTls = (tls: { cert: string; key: string }): WebServer =>
    new WebServer({ listen: '127.0.0.1:0', staticDir, tls, appConfig: () => appConfig, log: silentLogger });

  it('serves the app over HTTPS with the configured certificate, and reports an https:// URL', async () => {
    const tls = certificate('good', p256);
    const secure = withTls(tls);
    await secure.start();
    try {
      expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      // Trusting only this certificate proves it is the one served.
      const reply = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = httpsRequest(`${secure.url}/`, { ca: readFileSync(tls.cert) }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toContain('<script type="module" src="/app.js"></script>');
      expect(reply.headers['cross-origin-opener-policy']).toBe('same-origin');
    } finally {
      await secure.stop();
    }
  });

  it('counts the certificate’s names among its origins (the names a phone opens it by)', async () => {
    const cert = join(dir, 'named.crt');
    const key = join(dir, 'named.key');
    const san = 'subjectAltName=DNS:doorbell.lan,DNS:*.doorbell.lan,IP:192.168.1.20,IP:fd00::20';
    execFileSync('openssl', ['req', '-x509', '-newkey', ...p256, '-nodes', '-days', '1', '-subj', '/CN=doorbell.lan', '-addext', san, '-keyout', key, '-out', cert], { stdio: 'pipe' });
    const secure = withTls({ cert, key });
    await secure.start();
    try {
      const port = new URL(secure.url).port;
      expect(secure.origins().sort()).toEqual(
        ['doorbell.lan', '192.168.1.20', '[fd00::20]', 'localhost', '127.0.0.1', '[::1]'].map((h) => `https://${h}:${port}`).sort(),
      );
    } finally {
      await secure.stop();
    }
  });

  it('refuses to start, naming the file, when the certificate or key is missing, not PEM, mismatched or Ed25519', async () => {
    const good = certificate('a', p256);
    const other = certificate('b', p256);
    const ed25519 = certificate('ed', ['ed25519']);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const cases: [{ cert: string; key: string }, RegExp][] = [
      [{ cert: join(dir, 'missing.crt'), key: good.key }, /^web\.tls\.cert: cannot read .*missing\.crt: ENOENT/],
      [{ cert: good.cert, key: join(dir, 'missing.key') }, /^web\.tls\.key: cannot read .*missing\.key: ENOENT/],
      [{ cert: garbage, key: good.key }, /^web\.tls\.cert: .*garbage\.pem is not a PEM certificate/],
      [{ cert: good.cert, key: garbage }, /^web\.tls\.key: .*garbage\.pem is not a PEM private key/],
      [{ cert: good.cert, key: other.key }, /^web\.tls: the key in .*b\.key does not belong to the certificate in .*a\.crt/],
      [ed25519, /^web\.tls\.cert: .*ed\.crt has an ed25519 key, which browsers do not accept for HTTPS: make an ECDSA P-256/],
    ];
    for (const [tls, message] of cases) {
      const server = withTls(tls);
      await expect(server.start(), JSON.stringify(tls)).rejects.toThrow(message);
      expect(() => server.url).toThrow(/before start/);
    }
  });
});
