import { createLogger, type Logger } from '../log.js';
import { Agent } from '../main.js';
import type { Config } from '../config.js';
import { configFrom, configOption, type Command } from './command.js';

export function loggerFor(config: Config): Logger {
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stdout.isTTY === true);
  return createLogger({ level: config.log.level, pretty });
}

/** A stop that takes longer than this is abandoned: systemd and the user get their exit, not a hang. */
export const STOP_DEADLINE_MS = 8_000;

/**
 * Starts an agent and stops it cleanly on SIGINT/SIGTERM (or when `started` returns a promise that
 * settles, e.g. the demo's `q` key); resolves with the exit code. A failed start stops what it
 * started and resolves 1; the CLI then exits even if something it could not stop keeps the loop alive.
 */
export async function runUntilSignal(agent: Agent, log: Logger, started?: () => Promise<string> | void): Promise<number> {
  try {
    await agent.start();
  } catch (err) {
    log.error('agent failed to start', { error: (err as Error).message });
    await stopWithin(agent, log);
    return 1;
  }
  const signal = new Promise<string>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const why = await Promise.race([signal, started?.() ?? signal]);
  log.info('stopping', { why });
  // A second signal while stopping means "now".
  const now = (): void => process.exit(1);
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  return (await stopWithin(agent, log)) ? 0 : 1;
}

async function stopWithin(agent: Agent, log: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_DEADLINE_MS)));
  const stopped = await Promise.race([agent.stop().then(() => true as const), late]);
  clearTimeout(timer);
  if (!stopped) log.error(`the agent did not stop within ${STOP_DEADLINE_MS / 1000} s: exiting anyway`);
  return stopped;
}

export const run: Command = {
  usage: 'run [--config FILE]',
  summary: 'run the agent (the systemd service runs this)',
  options: configOption,
  async run(_args, flags) {
    const config = configFrom(flags);
    const log = loggerFor(config);
    return runUntilSignal(new Agent(config, { log }), log);
  },
};
