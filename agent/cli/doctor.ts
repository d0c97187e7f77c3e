import { formatReport, runDoctor } from '../doctor/index.js';
import { configFrom, configOption, jsonOption, print, printJson, type Command } from './command.js';

export const doctor: Command = {
  usage: 'doctor [--json]',
  summary: "check ffmpeg, the camera, GPIO, the store, the clock, the broker and owner keys; exit 1 on any failure",
  options: { ...configOption, ...jsonOption },
  async run(_args, flags) {
    const report = await runDoctor(configFrom(flags));
    if (flags.json) printJson(report);
    else print(formatReport(report));
    return report.ok ? 0 : 1;
  },
};
