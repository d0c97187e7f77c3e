import { spawn, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.js';
import { openDatabase } from '../../agent/store/database.js';
import { checkStoreInvariants, ClipStore } from '../../agent/store/index.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(REPO, 'test/fixtures/store/crash-writer.mjs');
const KILLS = 60;
// Small enough that nearly every commit evicts.
const MAX_BYTES = 1_500_000;

let work: string;
let built: string;

/**
 * Compiles only the store and what it imports into a temp folder: the child runs plain JavaScript,
 * and neither a shared dist/ nor other work-in-progress files can break or race this test.
 */
function buildStore(): string {
  const out = join(work, 'build');
  const config = join(work, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(REPO, 'tsconfig.json'),
      compilerOptions: {
        noEmit: false,
        outDir: out,
        rootDir: REPO,
        sourceMap: false,
        typeRoots: [join(REPO, 'node_modules/@types')],
      },
      files: ['agent/store/index.ts', 'agent/ids.ts', 'agent/log.ts'].map((f) => join(REPO, f)),
      include: [],
    }),
  );
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', config], { stdio: 'pipe' });
  // The compiled files are ES modules and resolve better-sqlite3 from the repository's node_modules.
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'));
  return out;
}

/** Starts the writer, waits until its store runs, lets it work 5–150 ms, then SIGKILLs it. */
async function runAndKill(storage: string): Promise<void> {
  const child = spawn(process.execPath, [FIXTURE, built, storage, String(MAX_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal })),
  );
  const running = new Promise<boolean>((done) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('running\n')) done(true);
    });
    void exited.then(() => done(false));
  });
  if (!(await running)) throw new Error(`crash writer exited before running:\n${stderr}`);
  await sleep(randomInt(5, 151));
  child.kill('SIGKILL');
  const { code, signal } = await exited;
  if (signal !== 'SIGKILL') throw new Error(`crash writer ended by itself (code ${code}) before the kill:\n${stderr}`);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'store-crash-'));
  built = buildStore();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('clip store under SIGKILL', () => {
  it(`recovers to a consistent store after each of ${KILLS} kills at random points`, async () => {
    const storage = join(work, 'storage');
    mkdirSync(storage);
    let recovered = 0;
    let mostClips = 0;
    const everReady = new Set<string>();
    const recoveries: Record<string, number> = {};
    const log = createLogger({
      sink: {
        write: (line) => {
          const { msg, recovery } = JSON.parse(line) as { msg: string; recovery?: Record<string, number> };
          if (msg !== 'clip store started' || !recovery) return;
          for (const [step, n] of Object.entries(recovery)) recoveries[step] = (recoveries[step] ?? 0) + n;
        },
      },
    });
    for (let kill = 1; kill <= KILLS; kill++) {
      await runAndKill(storage);

      const db = openDatabase(join(storage, 'doorbell.db'));
      const store = new ClipStore({ db, dir: storage, maxBytes: MAX_BYTES, maxAgeDays: 30, clock: { now: () => Date.now() }, log });
      try {
        await store.start();
        const report = db.prepare("SELECT COUNT(*) AS n FROM clips WHERE state = 'writing'").get() as { n: number };
        expect(report.n, `writing rows after kill ${kill}`).toBe(0);
        expect(readdirSync(join(storage, 'clips', '.tmp')), `temp files after kill ${kill}`).toEqual([]);
        expect(checkStoreInvariants(db, storage), `invariants after kill ${kill}`).toEqual([]);
        // Creates and deletes are ordered so that a crash never leaves a file without a row.
        expect(existsSync(join(storage, 'quarantine')), `quarantine after kill ${kill}`).toBe(false);
        const clips = store.list({ limit: 1_000 });
        for (const clip of clips) everReady.add(clip.id);
        mostClips = Math.max(mostClips, clips.length);
        recovered++;
      } finally {
        store.stop();
        db.close();
      }
    }
    expect(recovered).toBe(KILLS);
    // The run must have exercised the ring: many more clips came and went than the store ever held.
    expect(everReady.size).toBeGreaterThan(3 * mostClips);
    // Kills landed mid-write and mid-delete, and recovery never had to drop a row or quarantine a file.
    expect(recoveries).toMatchObject({ writesDropped: expect.any(Number), garbageFinished: expect.any(Number) });
    expect(recoveries.writesDropped).toBeGreaterThan(0);
    expect(recoveries.garbageFinished).toBeGreaterThan(0);
    expect(recoveries.missingFiles).toBe(0);
    expect(recoveries.quarantined).toBe(0);
  });
});
