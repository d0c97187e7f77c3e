import { ConfigError, configPath, loadConfig } from '../config.js';
import { UsageError, configOption, jsonOption, print, printJson, type Command } from './command.js';

export const configCheck: Command = {
  usage: 'config check [FILE] [--json]',
  summary: 'validate a config file (default: --config / $DOORBELL_CONFIG), listing every problem',
  options: { ...configOption, ...jsonOption },
  async run(args, flags) {
    if (args[0] !== 'check') throw new UsageError(args[0] ? `unknown subcommand "${args[0]}"` : 'which one: check?', 'config');
    const file = configPath(args[1] ?? (typeof flags.config === 'string' ? flags.config : undefined));
    try {
      const config = loadConfig(file);
      if (flags.json) {
        printJson({ ok: true, file: file ?? null, problems: [] });
        return 0;
      }
      print(`${file ?? 'defaults'}: ok`);
      print(`  device ${config.device.id}, camera ${config.camera.source}, gpio ${config.gpio.backend}`);
      print(`  storage ${config.storage.dir} (max ${config.storage.maxBytes} bytes, ${config.storage.maxAgeDays} days)`);
      print(`  broker ${config.mqtt.url ?? `embedded on ${config.mqtt.embedded.host}:${config.mqtt.embedded.port}`}`);
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (flags.json) printJson({ ok: false, file: file ?? null, problems: err.problems });
      else process.stderr.write(`${err.message}\n`);
      return 1;
    }
  },
};
