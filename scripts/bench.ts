/**
 * `npm run bench`: every benchmark of issues 7 and 15, each against a baseline measured in the same
 * run, with issue 15's goals marked held or missed. Results go to bench/results/<timestamp>.json and
 * bench/results/latest.md (the README's table).
 *   --only a,b              run only these (names below)
 *   --record-seconds N      each recording window (60)     --presses N        presses per debounce (200)
 *   --rings N               clip-ready rings (20)          --upload-runs N    approvals timed (5)
 *   --store-clips N         store size (100000)            --idle-minutes N   idle write window (3)
 *   --write-clips N         clips for bytes per clip (10)  --job-runs N       runs per clip job (5)
 *   --soak-minutes N        memory soak (5)                --soak-ring-seconds N  ring spacing (10)
 *   --long                  the memory soak runs an hour (beside the others, after the ring latency)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchClipReady } from './bench/clip-ready.js';
import { benchDiskWrites } from './bench/disk-writes.js';
import { PrivateMosquitto } from './bench/harness/mosquitto.js';
import { machineInfo } from './bench/machine.js';
import { benchRecording } from './bench/recording.js';
import { writeReport, type BenchReport } from './bench/report.js';
import type { BenchContext, BenchResult } from './bench/result.js';
import { benchSoakMemory } from './bench/soak-memory.js';
import { benchStoreScale } from './bench/store-scale.js';
import { benchTriggerToMqtt } from './bench/trigger-mqtt.js';
import { benchUpload } from './bench/upload.js';
import { benchClipJobs } from './bench/clip-jobs.js';
import { benchTriggerStorm } from './bench/trigger-storm.js';
import { loadavg } from 'node:os';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const OPTIONS = {
  only: { type: 'string' },
  'record-seconds': { type: 'string', default: '60' },
  presses: { type: 'string', default: '200' },
  rings: { type: 'string', default: '20' },
  'upload-runs': { type: 'string', default: '5' },
  'store-clips': { type: 'string', default: '100000' },
  'idle-minutes': { type: 'string', default: '3' },
  'write-clips': { type: 'string', default: '10' },
  'job-runs': { type: 'string', default: '5' },
  'soak-minutes': { type: 'string', default: '5' },
  'soak-ring-seconds': { type: 'string', default: '10' },
  long: { type: 'boolean', default: false },
  out: { type: 'string' },
} as const;

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!(n > 0)) throw new Error(`--${name} takes a positive number, got "${text}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  const num = (name: keyof typeof OPTIONS): number => positive(name, String(values[name]));
  const broker = new PrivateMosquitto();
  const benches: Record<string, (ctx: BenchContext) => Promise<BenchResult>> = {
    'trigger-mqtt': (ctx) => benchTriggerToMqtt({ presses: num('presses'), brokerUrl: broker.url }, ctx),
    'trigger-storm': (ctx) => benchTriggerStorm({ brokerUrl: broker.url }, ctx),
    'clip-jobs': (ctx) => benchClipJobs({ runs: num('job-runs') }, ctx),
    'clip-ready': (ctx) => benchClipReady({ rings: num('rings'), brokerUrl: broker.url }, ctx),
    upload: (ctx) => benchUpload({ runs: num('upload-runs'), brokerUrl: broker.url }, ctx),
    'store-scale': (ctx) => benchStoreScale({ clips: num('store-clips') }, ctx),
    'disk-writes': (ctx) => benchDiskWrites({ idleMinutes: num('idle-minutes'), clips: num('write-clips'), brokerUrl: broker.url }, ctx),
    'soak-memory': (ctx) =>
      benchSoakMemory({ minutes: values.long ? 60 : num('soak-minutes'), ringEverySeconds: num('soak-ring-seconds'), brokerUrl: broker.url }, ctx),
    recording: (ctx) => benchRecording({ seconds: num('record-seconds'), warmupSeconds: 15, brokerUrl: broker.url }, ctx),
  };
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? Object.keys(benches);
  const unknown = only.filter((name) => !benches[name]);
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}: choose from ${Object.keys(benches).join(', ')}`);

  const workDir = mkdtempSync(join(tmpdir(), 'doorbell-bench-'));
  const startedAt = new Date().toISOString();
  const began = Date.now();
  const ctx: BenchContext = {
    workDir,
    progress: (message) => process.stderr.write(`[bench ${Math.round((Date.now() - began) / 1000)} s] ${message}\n`),
  };
  const report: BenchReport = {
    startedAt,
    finishedAt: '',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo(),
    load: { start: loadavg()[0]!, end: 0 },
    results: [],
    failures: [],
  };
  await broker.start();
  const runOne = async (name: string): Promise<void> => {
    try {
      report.results.push(await benches[name]!(ctx));
    } catch (err) {
      const error = (err as Error).stack ?? String(err);
      ctx.progress(`${name} FAILED: ${error}`);
      report.failures.push({ name, error: (err as Error).message });
    }
  };
  try {
    // The ring's latency is a quiet machine's (issue 15): it goes first, before the soak starts.
    const first: string[] = only.filter((name) => name === 'trigger-mqtt');
    for (const name of first) await runOne(name);
    // The hour-long soak measures memory, not CPU: it runs beside the others instead of after them.
    const soak = values.long && only.includes('soak-memory') ? runOne('soak-memory') : null;
    for (const name of only) if (!first.includes(name) && !(soak && name === 'soak-memory')) await runOne(name);
    await soak;
  } finally {
    await broker.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
  report.finishedAt = new Date().toISOString();
  report.load!.end = loadavg()[0]!;
  const written = writeReport(values.out ?? RESULTS_DIR, report);
  process.stdout.write(`${written.md} and ${written.json} written\n`);
  return report.failures.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exitCode = 2;
  },
);
