/**
 * One agent per storage folder and per runtime folder, taken before anything touches either of them
 * (crash recovery, orphaned ffmpeg, brokers, ports).
 *
 * The lock is a listening Unix socket named after the folder's real path. On Linux it lives in the
 * abstract namespace: the kernel releases it the moment the holder dies, even by SIGKILL, so there is
 * no stale lock file to judge. Elsewhere it is a socket file in the temp folder, removed when nobody
 * answers on it. A second agent connects to learn the holder's pid and gives up, touching nothing.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from './log.js';

export class AgentAlreadyRunningError extends Error {
  constructor(
    readonly what: string,
    readonly dir: string,
    readonly pid: number | null,
  ) {
    super(
      `another agent${pid ? ` (pid ${pid})` : ''} is using the ${what} folder ${dir}: stop it first, or give this one its own ` +
        `storage.dir${what === 'runtime' ? ' and runtime.dir' : ''}`,
    );
    this.name = 'AgentAlreadyRunningError';
  }
}

export interface LockedFolder {
  /** "storage" or "runtime", for the message. */
  what: string;
  dir: string;
}

export class InstanceLock {
  private readonly servers: { server: Server; file: string | null }[] = [];

  constructor(private readonly deps: { folders: LockedFolder[]; log: Logger }) {}

  async start(): Promise<void> {
    const seen = new Set<string>();
    try {
      for (const { what, dir } of this.deps.folders) {
        mkdirSync(dir, { recursive: true });
        const real = realpathSync(dir);
        if (seen.has(real)) continue;
        seen.add(real);
        await this.take(what, real);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    for (const { server, file } of this.servers.splice(0)) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (file) await unlink(file).catch(() => undefined);
    }
  }

  private async take(what: string, dir: string): Promise<void> {
    const address = lockAddress(dir);
    const file = address.startsWith('\0') ? null : address;
    for (let attempt = 0; ; attempt++) {
      const server = createServer((socket) => {
        socket.on('error', () => undefined);
        socket.end(JSON.stringify({ pid: process.pid, dir }) + '\n');
      });
      const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        server.once('error', resolve);
        server.listen(address, () => resolve(null));
      });
      if (!error) {
        server.unref(); // The lock alone never keeps a stopping process alive.
        this.servers.push({ server, file });
        this.deps.log.debug('folder locked', { what, dir });
        return;
      }
      if (error.code !== 'EADDRINUSE') throw new Error(`cannot lock the ${what} folder ${dir}: ${error.message}`);
      const holder = await askHolder(address);
      // A socket file nobody answers on was left by a dead agent (abstract sockets never linger).
      if (holder === 'gone' && file && attempt === 0) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      throw new AgentAlreadyRunningError(what, dir, typeof holder === 'number' ? holder : null);
    }
  }
}

function lockAddress(dir: string): string {
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 32);
  return process.platform === 'linux' ? `\0doorbell-agent-${hash}` : join(tmpdir(), `doorbell-agent-${hash}.lock`);
}

/** The holder's pid, 'gone' when nobody listens, null when it does not say within a second. */
function askHolder(address: string): Promise<number | 'gone' | null> {
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection(address);
    const done = (result: number | 'gone' | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(null), 1000);
    socket.on('data', (b: Buffer) => (text += b.toString()));
    socket.on('end', () => {
      let pid = NaN;
      try {
        pid = Number((JSON.parse(text) as { pid?: unknown }).pid);
      } catch {
        // Not an agent's answer: the holder stays unnamed.
      }
      done(Number.isInteger(pid) && pid > 0 ? pid : null);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'gone' : null));
  });
}
