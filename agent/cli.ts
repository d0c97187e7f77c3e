#!/usr/bin/env node
/** `doorbell …`: the daemon, the demo, and the owner's tools on the device. */
import { parseArgs } from 'node:util';
import { commands, usage } from './cli/commands.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`doorbell: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
  return command.run(positionals, values as Record<string, string | boolean | undefined>);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { problems?: string[] }) => {
    process.stderr.write(`doorbell: ${err.message}\n`);
    process.exitCode = 1;
  },
);
