/**
 * The evidence receiver in a process of its own, as a requester's server is on another machine: the
 * benchmark's other work (the owner's session opening the doorbell's sealed statuses) then cannot
 * hold up the receiving end of one contender and not the other's.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEvidenceReceiver, type ReceivedRequest } from '../../evidence-receiver.js';

export type ReceivedSummary = Pick<ReceivedRequest, 'path' | 'bytes' | 'status' | 'savedAs' | 'error'> & {
  verification?: { ok: boolean; problems: string[] };
};

type ChildMessage = { listening: string } | { received: ReceivedSummary };

export class ReceiverProcess {
  private child: ChildProcess | null = null;
  private base = '';
  private stopping = false;
  /** Rejects if the receiver dies while in use: race it against a wait for a request, which would never end. */
  failed: Promise<never> = new Promise(() => {});

  constructor(
    private readonly dir: string,
    private readonly onRequest: (r: ReceivedSummary) => void,
  ) {}

  async start(): Promise<void> {
    const child = fork(fileURLToPath(import.meta.url), ['--child', this.dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.failed = new Promise<never>((_resolve, reject) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping) reject(new Error(`the evidence receiver exited (${signal ?? code})`));
      }),
    );
    this.failed.catch(() => {}); // reported where it is awaited
    this.base = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the evidence receiver exited with ${code} before listening`)));
      child.on('message', (m: ChildMessage) => {
        if ('listening' in m) resolve(m.listening);
        else this.onRequest(m.received);
      });
    });
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(force);
  }
}

async function child(dir: string): Promise<void> {
  const send = (m: ChildMessage): void => void process.send!(m);
  const receiver = await startEvidenceReceiver({
    dir,
    onRequest: (r) =>
      send({
        received: {
          path: r.path,
          bytes: r.bytes,
          status: r.status,
          ...(r.savedAs ? { savedAs: r.savedAs } : {}),
          ...(r.error ? { error: r.error } : {}),
          ...(r.verification ? { verification: { ok: r.verification.ok, problems: r.verification.problems } } : {}),
        },
      }),
  });
  process.once('SIGTERM', () => void receiver.stop().then(() => process.exit(0)));
  // The parent went away without stopping us: do not linger.
  process.once('disconnect', () => void receiver.stop().then(() => process.exit(0)));
  send({ listening: receiver.url('') });
}

if (process.argv[2] === '--child' && process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  child(process.argv[3]!).catch((err: unknown) => {
    process.stderr.write(`evidence receiver: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
