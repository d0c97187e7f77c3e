#!/usr/bin/env node
/** `doorbell …`: the daemon, the demo, and the owner's tools on the device. */
import { parseArgs } from 'node:util';
import { helpFor, loadCommand, usage } from './cli/commands.js';
import { EXIT, UsageError, joinDashValues } from './cli/command.js';
import { VERSION } from './version.js';

// `doorbell clips ls | head -1`: the reader is gone, which is a normal end, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw err;
  });
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic ? await loadCommand(topic) : undefined;
    if (topic && !command) throw new UsageError(`unknown command "${topic}"`);
    process.stdout.write(command ? helpFor(topic!, command) : await usage());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const command = await loadCommand(name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  const options = command.options ?? {};
  const own = rest.indexOf('--');
  if ((own === -1 ? rest : rest.slice(0, own)).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(helpFor(name, command));
    return EXIT.ok;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joinDashValues(rest, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!, name);
  }
  return command.run(parsed.positionals, parsed.values as Record<string, string | boolean | undefined>);
}

/** Sets the exit code; whatever is still pending (a timer, a socket a failed start left) gets 2 s. */
function exit(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref();
}

main(process.argv.slice(2)).then(exit, async (err: Error) => {
  if (err instanceof UsageError) {
    const command = err.command ? await loadCommand(err.command) : undefined;
    const help = command ? helpFor(err.command!, command) : `\n${await usage()}`;
    process.stderr.write(`doorbell: ${err.message}\n${help}`);
    return exit(EXIT.usage);
  }
  process.stderr.write(`doorbell: ${err.message}\n`);
  exit(EXIT.failure);
});
