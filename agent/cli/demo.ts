import { join, relative } from 'node:path';
import { iso } from '../clock.js';
import { configPath, loadConfig, parseConfig, type Config } from '../config.js';
import { createLogger } from '../log.js';
import { DEVICE_SECRET_FILE } from '../mqtt/index.js';
import { Agent, controlSocketPath } from '../main.js';
import { sendControl } from '../control/index.js';
import { configOption, formatBytes, print, type Command } from './command.js';
import { Narrator } from './narration.js';
import { runUntilSignal } from './run.js';
import { formatCode } from '../pairing/index.js';

/** The demo is `run` with development defaults: data under ./.doorbell, simulated GPIO, embedded broker. */
function demoConfig(file: string | undefined): Config {
  if (file) return loadConfig(file);
  // The demo's evidence receiver runs on this machine over plain http, which a real doorbell refuses.
  return parseConfig(
    { gpio: { backend: 'simulated' }, requests: { allowInsecureUploads: true, allowPrivateDestinations: true } },
    'demo defaults',
  );
}

/** Keys r/m/q on a terminal; resolves when the user quits. */
function keyboard(config: Config): Promise<string> {
  return new Promise((resolve) => {
    if (!process.stdin.isTTY) return;
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (key: Buffer) => {
      const k = key.toString();
      const what = k === 'r' ? 'ring' : k === 'm' ? 'motion' : k === 'l' ? 'long-press' : null;
      if (what) {
        sendControl(controlSocketPath(config), 'sim', { what }).catch((err: Error) => print(`  ${err.message}`));
      } else if (k === 'q' || k === '\u0003') {
        process.stdin.setRawMode(false);
        process.stdin.pause();
        resolve(k === 'q' ? 'q pressed' : 'ctrl-c');
      }
    });
  });
}

export const demo: Command = {
  usage: 'demo [--config FILE]',
  summary: 'run everything on this machine: synthetic camera, simulated GPIO, embedded broker',
  options: configOption,
  async run(_args, flags) {
    // A config error is printed once, by the CLI's error handler.
    const config = demoConfig(configPath(typeof flags.config === 'string' ? flags.config : undefined));
    const log = createLogger({ level: 'warn', pretty: true });
    const agent = new Agent(config, { log });
    const here = (p: string): string => relative(process.cwd(), p) || '.';
    agent.on('broker-ready', ({ url, wsUrl }) => print(`  broker     ${url}   (WebSocket ${wsUrl})`));
    agent.on('web-ready', ({ url }) => print(`  owner app  ${url}`));
    agent.on('pairing', (open) =>
      print(open ? `  pairing window open for 120 s: code ${formatCode(open.code)}` : '  pairing window closed'),
    );
    agent.on('trigger', ({ trigger, clipId }) =>
      print(`${iso(trigger.at).slice(11, 23)}  ${trigger.kind} (${trigger.source}) → clip ${clipId}`),
    );
    agent.on('clip-ready', (clip) =>
      print(
        `${iso(Date.now()).slice(11, 23)}  clip ${clip.id} ready: ${((clip.end - clip.start) / 1000).toFixed(1)} s, ` +
          `${formatBytes(clip.bytes)}, ${here(clip.path)}`,
      ),
    );
    const narrator = new Narrator(print);
    agent.on('audit', (entry) => narrator.entry(entry));
    agent.on('upload-progress', (progress) => narrator.progress(progress));
    agent.on('clip-failed', ({ clipId, error }) => print(`  clip ${clipId} failed: ${error}`));
    print(`doorbell demo — device "${config.device.id}"`);
    print(`  data       ${here(config.storage.dir)}`);
    print(`  topics     ${config.mqtt.prefix}/${config.device.id}/#`);
    return runUntilSignal(agent, log, () => {
      print('');
      print(
        process.stdin.isTTY
          ? 'Press r to ring, m for motion, l for a long press, q to quit.'
          : 'Ring from another terminal: npm run sim ring   (Ctrl-C to stop)',
      );
      if (!config.mqtt.url) {
        // Only the device's login reads everything: what a broker's operator sees (owner traffic sealed).
        const secret = here(join(config.storage.dir, DEVICE_SECRET_FILE));
        print(`Watch the broker: mosquitto_sub -p ${config.mqtt.embedded.port} -u device -P "$(cat ${secret})" -t "${config.mqtt.prefix}/#" -v`);
      }
      return keyboard(config);
    });
  },
};
