/**
 * The agent's local control socket (used by `doorbell sim`, the demo keyboard, and pairing). A unix
 * socket, mode 0660 in a 0750 folder: only the agent's user and group may drive it.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { isPlainObject, MAX_LINE_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';

export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

export interface ControlServerDeps {
  socketPath: string;
  log: Logger;
  /** Looked up per request, so handlers may be added after start. */
  handlers: Record<string, ControlHandler>;
}

const PROBE_TIMEOUT_MS = 1_000;

export class ControlServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly deps: ControlServerDeps) {}

  async start(): Promise<void> {
    const { socketPath, log } = this.deps;
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o750 });
    await this.removeStaleSocket();
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error('control socket error', { error: err.message }));
    this.server = server;
    try {
      // Until this chmod the socket has the umask's mode, which never lets others write (connect).
      await chmod(socketPath, 0o660);
    } catch (err) {
      await this.stop();
      throw err;
    }
    log.info('control socket listening', { socketPath });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.deps.socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.deps.log.warn('could not remove the control socket', { error: err.message });
    });
  }

  /** A socket file left by a crash is removed; one a live agent answers on is not. */
  private async removeStaleSocket(): Promise<void> {
    const { socketPath, log } = this.deps;
    try {
      if (!(await lstat(socketPath)).isSocket()) {
        throw new Error(`${socketPath} exists and is not a socket: refusing to replace it`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (await answers(socketPath)) {
      throw new Error(`another agent is running: its control socket ${socketPath} answers (stop it first)`);
    }
    await unlink(socketPath);
    log.info('removed a stale control socket', { socketPath });
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => this.deps.log.debug('control connection error', { error: err.message }));
    let pending = Buffer.alloc(0);
    let replies = Promise.resolve();
    let closing = false;
    const refuse = (error: string): void => {
      closing = true;
      replies = replies.then(() => {
        send(socket, { ok: false, error });
        socket.end();
      });
    };
    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      pending = Buffer.concat([pending, chunk]);
      for (let nl = pending.indexOf(0x0a); nl !== -1 && !closing; nl = pending.indexOf(0x0a)) {
        const line = pending.subarray(0, nl);
        pending = pending.subarray(nl + 1);
        if (line.length > MAX_LINE_BYTES) return refuse(`request line longer than ${MAX_LINE_BYTES} bytes`);
        if (line.toString().trim() === '') continue;
        const request = parseRequest(line.toString('utf8'));
        if (typeof request === 'string') return refuse(request);
        replies = replies.then(async () => send(socket, await this.answer(request)));
      }
      if (pending.length > MAX_LINE_BYTES) refuse(`request line longer than ${MAX_LINE_BYTES} bytes`);
    });
  }

  private async answer({ cmd, args }: ControlRequest): Promise<ControlResponse> {
    const { handlers, log } = this.deps;
    const handler = Object.hasOwn(handlers, cmd) ? handlers[cmd] : undefined;
    if (!handler) {
      const known = Object.keys(handlers).sort().join(', ') || 'none';
      return { ok: false, error: `unknown command "${cmd}"; known commands: ${known}` };
    }
    try {
      const result = (await handler(args)) ?? null;
      JSON.stringify(result); // fails here, not half-way through a reply, if the result cannot be sent
      return { ok: true, result };
    } catch (err) {
      log.warn('control command failed', { cmd, error: (err as Error).message });
      return { ok: false, error: (err as Error).message };
    }
  }
}

/** The request, or why it is malformed (answered with an error, then the connection closes). */
function parseRequest(text: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `invalid JSON: ${(err as Error).message}`;
  }
  if (!isPlainObject(value) || typeof value.cmd !== 'string') return 'expected {"cmd": "...", "args": {...}}';
  if (value.args !== undefined && !isPlainObject(value.args)) return '"args" must be an object';
  return { cmd: value.cmd, args: (value.args as Record<string, unknown> | undefined) ?? {} };
}

function send(socket: Socket, response: ControlResponse): void {
  if (socket.writable) socket.write(JSON.stringify(response) + '\n');
}

/** Whether something accepts connections on the socket file. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(socketPath);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(alive);
    };
    // An agent too busy to accept within the timeout is still an agent.
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => done(true));
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') return done(false);
      clearTimeout(timer);
      reject(new Error(`cannot check whether an agent is running on ${socketPath}: ${err.message}`));
    });
  });
}
