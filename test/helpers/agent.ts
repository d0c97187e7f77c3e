/** A real agent in this process (real ffmpeg, SQLite, broker) on temp dirs and free ports, for tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Clock } from '../../agent/clock.js';
import { parseConfig, type Config, type ConfigInput } from '../../agent/config.js';
import { sendControl } from '../../agent/control/index.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { Agent, controlSocketPath, databasePath } from '../../agent/main.js';
import type { LookupFn } from '../../agent/requests/index.js';
import type { Gpio } from '../../hardware/index.js';
import { openDatabase } from '../../agent/store/database.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { freePort } from './ports.js';

export interface AuditEntry {
  seq: number;
  type: string;
  [key: string]: unknown;
}

export class TestAgent {
  readonly clips: ClipRecord[] = [];

  constructor(
    readonly agent: Agent,
    readonly config: Config,
    readonly dir: string,
    readonly brokerUrl: string,
  ) {
    agent.on('clip-ready', (clip) => this.clips.push(clip));
  }

  /** Writes a config file that points the CLI at this agent (its folders and embedded broker). */
  writeCliConfig(file: string): string {
    writeFileSync(
      file,
      stringify({
        device: { id: this.config.device.id },
        runtime: { dir: this.config.runtime.dir },
        storage: { dir: this.config.storage.dir },
        mqtt: { embedded: this.config.mqtt.embedded },
      }),
    );
    return file;
  }

  control(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return sendControl(controlSocketPath(this.config), cmd, args);
  }

  /**
   * Waits until the camera has recorded a whole pre-roll, so that a ring now gets its full clip; a
   * ring sooner (right after start, on a busy machine) is a shorter clip, which is correct but not
   * what a test of a full clip wants.
   */
  async preRollRecorded(): Promise<void> {
    const status = async (): Promise<number | null> => ((await this.control('status')) as { camera: { lastSegmentAt: number | null } }).camera.lastSegmentAt;
    const deadline = Date.now() + 30_000;
    let first: number | null = null;
    for (;;) {
      const last = await status();
      first ??= last;
      if (first !== null && last !== null && last - first >= this.config.record.preRollSeconds * 1000) return;
      if (Date.now() > deadline) throw new Error('timed out waiting for the camera to record a pre-roll');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Presses the simulated button and resolves with the finished clip. */
  async ring(what: 'ring' | 'motion' = 'ring'): Promise<ClipRecord> {
    const before = this.clips.length;
    const clipId = new Promise<string>((resolve) => this.agent.once('trigger', ({ clipId: id }) => resolve(id)));
    await this.control('sim', { what });
    const id = await clipId;
    await until(() => this.clips.length > before && this.clips.some((c) => c.id === id), 30_000, `clip ${id}`);
    return this.clips.find((c) => c.id === id)!;
  }

  /** Every audit entry so far, read from the database file like an investigator would. */
  audit(): AuditEntry[] {
    const db = openDatabase(databasePath(this.config), { readonly: true });
    try {
      const rows = db.prepare('SELECT entry FROM audit_log ORDER BY seq').all() as { entry: string }[];
      return rows.map((r) => JSON.parse(r.entry) as AuditEntry);
    } finally {
      db.close();
    }
  }

  /** Waits until a refusal with this reason is in the audit log (refusals are written within a second). */
  async refusal(reason: string): Promise<AuditEntry> {
    let found: AuditEntry | undefined;
    await until(() => {
      found = this.audit().find(
        (e) => e.type === 'refusal' && (e.reason === reason || Object.hasOwn((e.reasons as object | undefined) ?? {}, reason)),
      );
      return found !== undefined;
    }, 10_000, `an audit refusal "${reason}"`);
    return found!;
  }

  async stop(): Promise<void> {
    await this.agent.stop();
  }

  async dispose(): Promise<void> {
    await this.agent.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startTestAgent(
  overrides: ConfigInput = {},
  opts: { lookup?: LookupFn; log?: Logger; dir?: string; gpio?: Gpio; pushAgent?: HttpsAgent; clock?: Clock } = {},
): Promise<TestAgent> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'agent-'));
  const embedded = { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() };
  const input: ConfigInput = {
    ...overrides,
    device: { id: 'testdoor', ...overrides.device },
    runtime: { dir: join(dir, 'run') },
    storage: { dir: join(dir, 'data'), ...overrides.storage },
    camera: { synthetic: { width: 320, height: 240, fps: 10 }, ...overrides.camera },
    record: { preRollSeconds: 1, postRollSeconds: 1, ...overrides.record },
    mqtt: { embedded, ...overrides.mqtt },
    web: { enabled: false, ...overrides.web },
  };
  const config = parseConfig(input, 'test', {});
  const agent = new Agent(config, {
    log: opts.log ?? silentLogger,
    env: {},
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
    ...(opts.gpio ? { gpio: opts.gpio } : {}),
    ...(opts.pushAgent ? { pushAgent: opts.pushAgent } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  await agent.start();
  return new TestAgent(agent, config, dir, config.mqtt.url ?? `mqtt://127.0.0.1:${embedded.port}`);
}

export function until(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      let ok = false;
      try {
        ok = check();
      } catch (err) {
        return reject(err as Error);
      }
      if (ok) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}
