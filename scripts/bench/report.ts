/** The results file and the Markdown table for the README's performance section. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './machine.js';
import type { BenchResult, BenchRow } from './result.js';

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: MachineInfo;
  /** 1-minute load average at the start and the end: how busy the machine was besides the benchmark. */
  load?: { start: number; end: number };
  results: BenchResult[];
  failures: { name: string; error: string }[];
}

function figure(value: number, unit: string): string {
  return `${value.toLocaleString('en', { maximumFractionDigits: 3 })} ${unit}`;
}

function goalRow(r: BenchRow): string {
  const ratio = r.ratio !== undefined && Number.isFinite(r.ratio) ? `, ${r.ratio.toFixed(2)}×` : '';
  return `| ${r.benchmark} | ${r.metric} | ${figure(r.value, r.unit)}${ratio} | ${r.goal!.text} | ${r.goal!.met ? 'held' : '**missed**'} |`;
}

function tableRow(r: BenchRow): string {
  const baseline = r.baseline ? `${figure(r.baseline.value, r.unit)} (${r.baseline.name})` : '—';
  const ratio = r.ratio !== undefined && Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : '—';
  const note = r.note ? ` (${r.note})` : '';
  return `| ${r.benchmark} | ${r.metric} | ${figure(r.value, r.unit)}${note} | ${baseline} | ${ratio} |`;
}

export function markdown(report: BenchReport): string {
  const m = report.machine;
  const goals = report.results.flatMap((r) => r.rows.filter((x) => x.goal));
  const load = report.load ? ` Load average ${report.load.start.toFixed(1)} at the start, ${report.load.end.toFixed(1)} at the end.` : '';
  const lines = [
    `Measured with \`${report.command}\` on ${report.startedAt.slice(0, 10)}: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, ffmpeg ${m.ffmpeg}, Mosquitto ${m.mosquitto}${m.motion ? `, motion ${m.motion}` : ''}.${load}`,
    '',
    ...(goals.length
      ? ['Goals (issue 15):', '', '| Benchmark | Metric | This run | Goal | |', '| --- | --- | --- | --- | --- |', ...goals.map(goalRow), '', 'Every figure:', '']
      : []),
    '| Benchmark | Metric | Doorbell agent | Baseline (same run) | Ratio |',
    '| --- | --- | --- | --- | --- |',
    ...report.results.flatMap((r) => r.rows.map(tableRow)),
    '',
    ...report.results.flatMap((r) => r.notes.map((n) => `- ${n}`)),
    ...report.failures.map((f) => `- **${f.name} failed**: ${f.error}`),
    '',
  ];
  return lines.join('\n');
}

export function writeReport(dir: string, report: BenchReport): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const json = join(dir, `${stamp}.json`);
  const md = join(dir, 'latest.md');
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(md, markdown(report));
  return { json, md };
}
