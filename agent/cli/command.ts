import type { ParseArgsConfig } from 'node:util';
import { configPath, loadConfig, type Config } from '../config.js';

export type Flags = Record<string, string | boolean | undefined>;

export interface Command {
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  run(args: string[], flags: Flags): Promise<number>;
}

export const configOption = { config: { type: 'string', short: 'c' } } as const;
export const jsonOption = { json: { type: 'boolean' } } as const;

export function configFrom(flags: Flags): Config {
  return loadConfig(configPath(typeof flags.config === 'string' ? flags.config : undefined));
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Human sizes for terminal output (JSON output always carries exact bytes). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
