/** The development broker (aedes) on loopback: MQTT over TCP and over WebSocket for the phone app. */
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Aedes } from 'aedes';
import type { WebSocketServer } from 'ws';
import type { Logger } from '../log.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number;
}

export class EmbeddedBroker {
  private broker: Aedes | null = null;
  private tcp: Server | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;

  constructor(private readonly deps: { options: EmbeddedBrokerOptions; log: Logger }) {}

  get url(): string {
    return `mqtt://${this.deps.options.host}:${this.deps.options.port}`;
  }

  get wsUrl(): string {
    return `ws://${this.deps.options.host}:${this.deps.options.wsPort}`;
  }

  async start(): Promise<void> {
    const { host, port, wsPort } = this.deps.options;
    // Loaded here, not at import: an agent with an external broker never holds aedes and ws in memory.
    const [{ Aedes }, { WebSocketServer, createWebSocketStream }] = await Promise.all([import('aedes'), import('ws')]);
    const broker = await Aedes.createBroker();
    this.broker = broker;
    broker.on('clientError', (client, err) => this.deps.log.debug('broker client error', { client: client.id, error: err.message }));
    this.tcp = createServer(broker.handle);
    await listen(this.tcp, port, host, 'MQTT');
    this.http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
    });
    this.wss = new WebSocketServer({ server: this.http });
    // The WebSocket server re-emits its HTTP server's errors; listen() below reports them.
    this.wss.on('error', (err) => this.deps.log.debug('broker WebSocket listener error', { error: err.message }));
    this.wss.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket), req));
    await listen(this.http, wsPort, host, 'MQTT WebSocket');
  }

  async stop(): Promise<void> {
    // Closing the broker ends its client connections, which lets the listeners close.
    await new Promise<void>((resolve) => (this.broker ? this.broker.close(() => resolve()) : resolve()));
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    await Promise.all([closeServer(this.http), closeServer(this.tcp)]);
    this.broker = this.tcp = this.http = this.wss = null;
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
