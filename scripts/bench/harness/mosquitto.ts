/** A private Mosquitto on a free loopback port, with persistence so sessions and retained messages survive a restart. */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

export class PrivateMosquitto {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'bench-mosq-'));
  port = 0;

  /** `autosaveSeconds`: save sessions that often, so a broker killed with SIGKILL keeps them as a persistent broker would. */
  constructor(private readonly opts: { autosaveSeconds?: number } = {}) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
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
        ...(this.opts.autosaveSeconds ? [`autosave_interval ${this.opts.autosaveSeconds}`] : []),
        // A fuzz run queues far more than the default 1000 messages: dropping them silently would hide what was sent.
        'max_queued_messages 0',
        'set_tcp_nodelay true',
        'log_dest none',
      ].join('\n') + '\n',
    );
    const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    child.once('error', (err) => process.stderr.write(`mosquitto: ${err.message}\n`));
    this.child = child;
    await waitForPort(this.port);
  }

  /** SIGTERM lets Mosquitto write its persistence file, like a service restart. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** A crash: nothing is written. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
