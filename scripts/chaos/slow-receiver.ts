/**
 * The requester's upload endpoint for the chaos run: reads bodies slowly (so kills land mid-upload),
 * records every HTTP request it ever sees, and verifies every complete bundle.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyBundle, type BundleVerification } from '../../agent/requests/bundle.js';

export interface Delivery {
  method: string;
  path: string;
  bytes: number;
  complete: boolean;
  verification?: BundleVerification;
  /** The request id the manifest names, when it verified. */
  manifestRequestId?: string;
}

export class SlowReceiver {
  readonly deliveries: Delivery[] = [];
  private server: Server | null = null;
  private port = 0;
  active = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly ownerPublicKey: string,
  ) {}

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const d: Delivery = { method: req.method ?? '', path: req.url ?? '', bytes: 0, complete: false };
      this.deliveries.push(d);
      this.active++;
      const chunks: Buffer[] = [];
      let closed = false;
      const done = (): void => {
        if (closed) return;
        closed = true;
        this.active--;
      };
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        d.bytes += chunk.length;
        // Throttle: hold the stream as long as this chunk "takes" at the configured rate.
        req.pause();
        setTimeout(() => req.resume(), (chunk.length / this.bytesPerSecond) * 1000);
      });
      req.on('end', () => {
        d.complete = true;
        d.verification = verifyBundle(Buffer.concat(chunks), { ownerPublicKey: this.ownerPublicKey });
        if (d.verification.manifest) d.manifestRequestId = d.verification.manifest.requestId;
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok\n');
        done();
      });
      req.on('error', done);
      req.on('close', done);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
