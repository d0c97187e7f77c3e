/** The machine a result was measured on, reported next to every figure. */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  ffmpeg: string;
  mosquitto: string;
  motion: string | null;
}

function firstLine(cmd: string, args: string[]): string | null {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return out.split('\n').find((l) => l.trim()) ?? null;
  } catch (err) {
    // motion -h exits 1 after printing its version: use what it printed.
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return out.split('\n').find((l) => l.trim()) ?? null;
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    ffmpeg: /ffmpeg version (\S+)/.exec(firstLine('ffmpeg', ['-hide_banner', '-version']) ?? '')?.[1] ?? 'not found',
    mosquitto: /mosquitto version (\S+)/i.exec(firstLine('mosquitto', ['-h']) ?? '')?.[1] ?? 'not found',
    motion: /motion Version ([\d.]+)/i.exec(firstLine('motion', ['-h']) ?? '')?.[1] ?? null,
  };
}
