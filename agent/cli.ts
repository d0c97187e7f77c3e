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

/** Sets the exit code; whatever is still pending (a timer, a socket a failed start left) gets 2 s. */
function exit(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref();
}

main(process.argv.slice(2)).then(exit, (err: Error & { problems?: string[] }) => {
  process.stderr.write(`doorbell: ${err.message}\n`);
  exit(1);
});
