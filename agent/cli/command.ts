import type { ParseArgsConfig } from 'node:util';
import { configPath, loadConfig, type Config } from '../config.js';

/** Exit codes of every command (README "Command line"). */
export const EXIT = {
  ok: 0,
  /** The command ran and failed, or found a problem (doctor, audit verify, config check). */
  failure: 1,
  /** The command line itself is wrong: unknown command or option, missing argument. */
  usage: 2,
} as const;

/** A wrong command line: exit 2 with the command's help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A string option always takes the next argument, even one starting with "-" (one owner key in 64
 * does): `--key -abc` becomes `--key=-abc`, which node's parseArgs would otherwise call ambiguous.
 */
export function joinDashValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (takesValue.has(a) && next !== undefined && next.startsWith('-') && next !== '--') {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

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
