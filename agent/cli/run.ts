import { createLogger, type Logger } from '../log.js';
import { Agent } from '../main.js';
import type { Config } from '../config.js';
import { configFrom, configOption, type Command } from './command.js';

export function loggerFor(config: Config): Logger {
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stdout.isTTY === true);
  return createLogger({ level: config.log.level, pretty });
}

/**
 * Starts an agent and stops it cleanly on SIGINT/SIGTERM (or when `started` returns a promise that
 * settles, e.g. the demo's `q` key); resolves with the exit code.
 */
export async function runUntilSignal(agent: Agent, log: Logger, started?: () => Promise<string> | void): Promise<number> {
  try {
    await agent.start();
  } catch (err) {
    log.error('agent failed to start', { error: (err as Error).message });
    await agent.stop();
    return 1;
  }
  const signal = new Promise<string>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const why = await Promise.race([signal, started?.() ?? signal]);
  log.info('stopping', { why });
  await agent.stop();
  return 0;
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
