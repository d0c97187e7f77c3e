/**
 * The development broker (aedes) on loopback: MQTT over TCP and over WebSocket for the phone app. It
 * enforces protocol.md "Broker access" (broker-access.ts) on every login, publish, subscription and
 * delivery, and refuses WebSocket upgrades from web pages other than the phone app's.
 */
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import type { BrokerAccess, Principal } from './broker-access.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number;
}

const FORBIDDEN_ORIGIN = 'a web page from another origin may not use this broker\n';

export class EmbeddedBroker {
  private broker: Aedes | null = null;
  private tcp: Server | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;
  private readonly principals = new WeakMap<Client, Principal>();
  /** Connected clients by client id: who holds an id decides whether a newcomer may take it. */
  private readonly connected = new Map<string, Client>();
  private origins = new Set<string>();

  constructor(private readonly deps: { options: EmbeddedBrokerOptions; access: BrokerAccess; log: Logger }) {}

  get url(): string {
    return `mqtt://${this.deps.options.host}:${this.deps.options.port}`;
  }

  get wsUrl(): string {
    return `ws://${this.deps.options.host}:${this.deps.options.wsPort}`;
  }

  /** The phone app's origins (`https://doorbell.lan:8080`): the only web pages whose WebSocket upgrades pass. */
  allowOrigins(origins: Iterable<string>): void {
    this.origins = new Set([...origins].map(normalizeOrigin).filter((o): o is string => o !== undefined));
  }

  /** Closes the connections logged in with this key (its owner rights are already gone: this ends the session too). */
  disconnectKey(keyId: string): void {
    for (const client of this.connected.values()) {
      const who = this.principals.get(client);
      if (who?.role === 'key' && who.keyId === keyId) client.close();
    }
  }

  async start(): Promise<void> {
    const { host, port, wsPort } = this.deps.options;
    const { access, log } = this.deps;
    // Loaded here, not at import: an agent with an external broker never holds aedes and ws in memory.
    const [{ Aedes }, { WebSocketServer, createWebSocketStream }] = await Promise.all([import('aedes'), import('ws')]);
    const who = (client: Client | null): Principal | undefined => (client ? this.principals.get(client) : undefined);
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const newcomer = access.login(username, password, client.id);
        if (!newcomer) {
          log.debug('broker login refused', { client: client.id, username });
          return done(refusal(4, 'bad user name or password'), false);
        }
        const holder = who(this.connected.get(client.id) ?? null);
        if (holder && !access.mayTakeOver(newcomer, holder)) {
          log.debug('broker client id in use by another login', { client: client.id, role: newcomer.role });
          return done(refusal(2, 'client id in use'), false);
        }
        this.principals.set(client, newcomer);
        done(null, true);
      },
      // A publish outside the login's topics closes its connection (MQTT 3.1.1 §3.3.5); the Will too.
      authorizePublish: (client, packet, done) => {
        const principal = who(client);
        done(principal && access.mayPublish(principal, packet.topic) ? null : new Error(`not allowed to publish on ${packet.topic}`));
      },
      // Refused filters get 0x80 in the SUBACK; the connection stays.
      authorizeSubscribe: (client, subscription, done) => {
        const principal = who(client);
        done(null, principal && access.mayRead(principal, subscription.topic) ? subscription : null);
      },
      // Checked again at each delivery (retained, queued or live): rights lost since subscribing count.
      authorizeForward: (client, packet) => {
        const principal = who(client);
        return principal && access.mayRead(principal, packet.topic) ? packet : null;
      },
    });
    this.broker = broker;
    broker.on('clientReady', (client) => this.connected.set(client.id, client));
    broker.on('clientDisconnect', (client) => {
      if (this.connected.get(client.id) === client) this.connected.delete(client.id);
    });
    broker.on('clientError', (client, err) => log.debug('broker client error', { client: client.id, error: err.message }));
    // Small packets go out at once (see no-delay.ts): Nagle would hold one back behind an unacknowledged one.
    this.tcp = createServer({ noDelay: true }, broker.handle);
    await listen(this.tcp, port, host, 'MQTT');
    this.http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
    });
    const wss = new WebSocketServer({ noServer: true });
    this.wss = wss;
    wss.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket), req));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', (err) => log.debug('broker WebSocket upgrade error', { error: err.message }));
      // Browsers always send Origin; other clients need not. A page elsewhere must not use a visitor's browser.
      const origin = req.headers.origin;
      if (origin !== undefined && !this.origins.has(normalizeOrigin(origin) ?? '')) {
        log.debug('broker WebSocket refused for its origin', { origin });
        socket.end(
          `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(FORBIDDEN_ORIGIN)}\r\nConnection: close\r\n\r\n${FORBIDDEN_ORIGIN}`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    await listen(this.http, wsPort, host, 'MQTT WebSocket');
  }

  async stop(): Promise<void> {
    // Closing the broker ends its client connections, which lets the listeners close.
    await new Promise<void>((resolve) => (this.broker ? this.broker.close(() => resolve()) : resolve()));
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    await Promise.all([closeServer(this.http), closeServer(this.tcp)]);
    this.broker = this.tcp = this.http = this.wss = null;
    this.connected.clear();
  }
}

function refusal(returnCode: 2 | 4, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** `scheme://host[:port]` as browsers serialise it, or undefined (`null`, garbage). */
function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    // Not a URL (a sandboxed page sends "null"): no origin we serve.
    return undefined;
  }
}

function listen(server: Server | HttpServer, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`${what} port ${host}:${port} is already in use (is another demo running?)`)
          : err,
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

function closeServer(server: Server | HttpServer | null): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}
