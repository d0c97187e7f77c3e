import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** A private Mosquitto on a free loopback port, with persistence so sessions survive its restart. */
export class TestMosquitto {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'mosq-'));
  port = 0;

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    // Started as root, Mosquitto drops to its own user: it must be able to write its persistence file.
    chmodSync(this.dir, 0o777);
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${this.dir}/`,
        'log_dest none',
      ].join('\n') + '\n',
    );
    this.child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    await waitForPort(this.port);
  }

  /** SIGTERM lets Mosquitto write its persistence file, like a broker restart on a real install. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
