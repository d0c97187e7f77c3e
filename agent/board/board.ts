/**
 * The public request board's own composition root (`doorbell board serve`): its key, its log, its
 * HTTP server and its relay to the broker. It shares code with the agent, never state.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { sendWithoutDelay } from '../mqtt/no-delay.js';
import { acceptRequest, acceptWithdrawal, Refused } from './board-intake.js';
import { handle } from './board-http.js';
import { loadBoardKey, type BoardKey } from './board-key.js';
import { BoardLog, type Entry } from './board-log.js';

export interface BoardOptions {
  dataDir: string;
  /** HOST:PORT */
  listen: string;
  brokerUrl?: string;
  /** Checkpoint origin and key name; no spaces or "+". */
  name: string;
  /** MQTT topic prefix of the doorbells (`mqtt.prefix`) for area topics. */
  prefix: string;
  log: Logger;
  now?: () => number;
}

export class RequestBoard {
  private key!: BoardKey;
  private boardLog!: BoardLog;
  private server: Server | null = null;
  private broker: MqttClient | null = null;
  private relaying: Promise<void> = Promise.resolve();

  constructor(private readonly opts: BoardOptions) {}

  get vkey(): string {
    return this.key.vkey;
  }

  get url(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async start(): Promise<void> {
    const { opts } = this;
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    this.key = loadBoardKey(opts.dataDir, opts.name);
    this.boardLog = new BoardLog(join(opts.dataDir, 'board.db'), this.key);
    this.boardLog.start();
    const now = opts.now ?? Date.now;
    const routes = {
      log: this.boardLog,
      vkey: this.key.vkey,
      now,
      postRequest: async (body: Buffer) => this.postRequest(body, now()),
      postWithdrawal: (body: Buffer) => this.postWithdrawal(body, now()),
    };
    this.server = createServer((req, res) => {
      handle(routes, req, res).catch((err: Error) => opts.log.error('board request failed', { error: err.message }));
    });
    const match = /^(.*):(\d+)$/.exec(opts.listen);
    if (!match) throw new Error(`--listen takes HOST:PORT, not ${opts.listen}`);
    const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(Number(match[2]), host, () => resolve());
    });
    if (opts.brokerUrl) {
      this.broker = sendWithoutDelay(await connectAsync(opts.brokerUrl, { clientId: `doorbell-board-${this.key.pair.keyId}`, reconnectPeriod: 1000 }));
      this.broker.on('connect', () => this.relayPending());
      this.relayPending();
    }
    opts.log.info('request board ready', { url: this.url, entries: this.boardLog.size, key: this.key.vkey });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    await this.relaying;
    await this.broker?.endAsync();
    this.boardLog?.stop();
  }

  /** Logged (committed) before the 201 answer; relayed after. */
  private postRequest(body: Buffer, now: number): { index: number; topic: string } {
    const accepted = acceptRequest(body, this.opts.prefix, now);
    if (this.boardLog.findRequest(accepted.request.id)) throw new Refused(409, `${accepted.request.id} is already on the board`);
    const entry = this.boardLog.append({
      type: 'request',
      keyId: accepted.keyId,
      requestId: accepted.request.id,
      envelope: accepted.envelope,
      topic: accepted.topic,
      receivedAt: now,
    });
    this.opts.log.info('request logged', { index: entry.index, requestId: entry.requestId, keyId: entry.keyId });
    this.relayPending();
    return { index: entry.index, topic: entry.topic };
  }

  private postWithdrawal(body: Buffer, now: number): { index: number } {
    const w = acceptWithdrawal(body);
    const original = this.boardLog.findRequest(w.requestId);
    if (!original || original.keyId !== w.keyId) throw new Refused(404, `no request ${w.requestId} posted by this key`);
    if (this.boardLog.withdrawn(w.requestId)) throw new Refused(409, `${w.requestId} is already withdrawn`);
    const entry = this.boardLog.append({ type: 'withdrawal', keyId: w.keyId, requestId: w.requestId, envelope: w.envelope, topic: '', receivedAt: now });
    return { index: entry.index };
  }

  /** Relays every logged, unrelayed request, in order, each with its proof under the newest checkpoint. */
  private relayPending(): void {
    this.relaying = this.relaying.then(async () => {
      const broker = this.broker;
      if (!broker?.connected) return;
      for (const entry of this.boardLog.unrelayed()) {
        try {
          await broker.publishAsync(entry.topic, this.relayMessage(entry), { qos: 1 });
          this.boardLog.markRelayed(entry.index);
        } catch (err) {
          this.opts.log.warn('relay paused; resumes on reconnect', { index: entry.index, error: (err as Error).message });
          return;
        }
      }
    });
  }

  private relayMessage(entry: Entry): string {
    const size = this.boardLog.size;
    return JSON.stringify({
      v: 2,
      ...entry.envelope,
      board: { index: entry.index, checkpoint: this.boardLog.checkpoint(size), inclusion: this.boardLog.inclusion(entry.index, size) },
    });
  }
}
