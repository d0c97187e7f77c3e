/** ffmpeg: found, its version, and the H.264 encoders raw cameras are encoded with. */
import type { FfmpegPaths } from '../capture/index.js';
import type { CheckContext, DoctorCheck } from './types.js';

const INSTALL = 'sudo apt-get install ffmpeg (or set ffmpeg.path in the config)';

/** Encoder names from `ffmpeg -encoders` (lines such as ` V....D libx264   libx264 H.264 / AVC ...`). */
function parseEncoders(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line);
    if (m && m[1] !== '=') names.add(m[1]!);
  }
  return names;
}

export async function checkFfmpeg(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'ffmpeg';
  let found: FfmpegPaths;
  try {
    found = await ctx.probes.locateFfmpeg(ctx.config.ffmpeg.path);
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message, fix: INSTALL };
  }
  ctx.ffmpeg = found;
  const listed = await ctx.probes.run(found.ffmpeg, ['-hide_banner', '-encoders']);
  if (listed.code !== 0) {
    return { name, ok: false, detail: `${found.ffmpeg} -encoders failed: ${listed.stderr.trim().split('\n').pop() ?? ''}`, fix: INSTALL };
  }
  const encoders = parseEncoders(listed.stdout);
  const has = (e: string): string => `${e} ${encoders.has(e) ? 'yes' : 'no'}`;
  const encoderList = `${has('libx264')}, ${has('h264_v4l2m2m')} (hardware, where the Pi has one)`;
  const detail = `ffmpeg ${found.version} at ${found.ffmpeg}; H.264 encoders: ${encoderList}`;
  // Raw cameras are encoded with libx264; H.264 cameras are copied and need no encoder.
  if (!encoders.has('libx264')) {
    return { name, ok: false, detail, fix: `use an ffmpeg built with libx264: ${INSTALL}` };
  }
  return { name, ok: true, detail };
}
