/**
 * The camera: reachable, and producing frames. While the agent runs it holds the camera (a USB or Pi
 * camera, or an IP camera that serves one stream), so its own capture health is asked instead.
 */
import type { AgentCamera, CheckContext, DoctorCheck } from './types.js';

export async function checkCamera(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'camera';
  const source = ctx.config.camera.source;
  let running: AgentCamera | null;
  try {
    running = await ctx.probes.agentCamera(ctx.config);
  } catch (err) {
    return {
      name,
      ok: false,
      detail: `cannot ask the running agent about the camera: ${(err as Error).message}`,
      fix: "run doctor as the agent's user: sudo -u doorbell doorbell doctor",
    };
  }
  if (running) {
    const age = running.lastSegmentAt === null ? 'none yet' : `${Math.round((Date.now() - running.lastSegmentAt) / 1000)} s ago`;
    const facts = `newest segment ${age}, ${running.restarts} ffmpeg restart${running.restarts === 1 ? '' : 's'}`;
    if (running.ok) return { name, ok: true, detail: `${source}: the running agent records (${facts})` };
    const why = running.detail ? `: ${running.detail}` : '';
    return { name, ok: false, detail: `${source}: the running agent gets no video${why} (${facts})`, fix: fixFor(source) };
  }
  if (!ctx.ffmpeg) return { name, ok: false, detail: `${source}: not checked, ffmpeg was not found`, fix: 'fix ffmpeg first' };
  try {
    const bytes = await ctx.probes.grabFrame(ctx.config, ctx.ffmpeg);
    if (bytes === 0) return { name, ok: false, detail: `${source}: ffmpeg ran but recorded no video`, fix: fixFor(source) };
    return { name, ok: true, detail: `${source}: recorded a frame (${bytes} bytes)` };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message, fix: fixFor(source) };
  }
}

function fixFor(source: string): string {
  return source === 'synthetic'
    ? "ffmpeg's test source failed: check that this ffmpeg has the lavfi device and libx264 (Debian's ffmpeg package does)"
    : `check that the ${source} camera is connected and configured under camera.${source} in the config ` +
        '(journalctl -u doorbell shows what ffmpeg said)';
}
