import { ConfigError, configPath, loadConfig } from '../config.js';
import { print, type Command } from './command.js';

export const configCheck: Command = {
  usage: 'config check [FILE]',
  summary: 'validate a config file (default: --config / $DOORBELL_CONFIG), listing every problem',
  async run(args) {
    if (args[0] !== 'check') throw new Error('usage: doorbell config check [FILE]');
    const file = configPath(args[1]);
    try {
      const config = loadConfig(file);
      print(`${file ?? 'defaults'}: ok`);
      print(`  device ${config.device.id}, camera ${config.camera.source}, gpio ${config.gpio.backend}`);
      print(`  storage ${config.storage.dir} (max ${config.storage.maxBytes} bytes, ${config.storage.maxAgeDays} days)`);
      print(`  broker ${config.mqtt.url ?? `embedded on ${config.mqtt.embedded.host}:${config.mqtt.embedded.port}`}`);
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
  },
};
