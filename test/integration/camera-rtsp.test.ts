/**
 * The rtsp source against a real RTSP server on loopback (GStreamer through python3-gi) that asks
 * for a login: the main stream is recorded by copy, the server dying and coming back is survived
 * and reported in the state, the password appears in no log line and no state message, and motion
 * detection reads either a branch of the one session or the camera's sub-stream, and stops reporting
 * once capture stops.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture, locateFfmpeg, type CameraHealth, type FfmpegPaths } from '../../agent/capture/index.js';
import { systemClock } from '../../agent/clock.js';
import { parseConfig, type ConfigInput } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { FolderSink, LogLines } from '../fixtures/camera/clip-sink.js';
import { TestRtspServer } from '../fixtures/camera/rtsp-server.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor as waitUntil } from '../helpers/wait.js';

const USER = 'admin';
const PASSWORD = 'p@ss:W0rd/9';
const ENCODED = encodeURIComponent(PASSWORD);
const SECRETS = [PASSWORD, ENCODED, 'W0rd'];

const waitFor = <T>(what: string, check: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> =>
  waitUntil(what, check, timeoutMs);

const VIDEO_FIELDS = 'stream=codec_name,profile,level,width,height,refs,pix_fmt';

function probeVideo(input: string, extra: string[] = []): Record<string, unknown> {
  const out = execFileSync('ffprobe', ['-v', 'error', ...extra, '-select_streams', 'v:0', '-show_entries', VIDEO_FIELDS, '-of', 'json', input], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return (JSON.parse(out) as { streams: Record<string, unknown>[] }).streams[0]!;
}

let dir: string;
let paths: FfmpegPaths;
let port: number;
let server: TestRtspServer;
const logs = new LogLines();
const url = (path: string): string => `rtsp://${USER}:${ENCODED}@127.0.0.1:${port}${path}`;

function makeCapture(name: string, camera: ConfigInput['camera']): { capture: Capture; health: CameraHealth[]; clips: ClipRecord[]; motions: number[] } {
  const config = parseConfig({
    runtime: { dir: join(dir, name, 'run') },
    camera: { stallSeconds: 4, connectTimeoutSeconds: 3, ...camera },
    record: { preRollSeconds: 2, postRollSeconds: 2, maxClipSeconds: 10 },
  });
  const sinkDir = mkdtempSync(join(dir, `${name}-clips-`));
  const log = createLogger({ level: 'debug', sink: logs, base: { test: name } });
  const capture = new Capture({ config, ffmpeg: paths, sink: new FolderSink(sinkDir), clock: systemClock, log });
  const health: CameraHealth[] = [];
  const clips: ClipRecord[] = [];
  const motions: number[] = [];
  capture.on('health', (h) => health.push(h));
  capture.on('clip-ready', ({ clip }) => clips.push(clip));
  capture.on('motion', ({ at }) => motions.push(at));
  return { capture, health, clips, motions };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camera-rtsp-'));
  paths = await locateFfmpeg();
  port = await freePort();
  // /cam: a still test card with a G.711 audio track, as doorbell cameras send; /sub: a small bouncing ball.
  server = await TestRtspServer.start({ port, path: '/cam', pattern: 'smpte', audio: true, subPath: '/sub', subPattern: 'ball', user: USER, password: PASSWORD });
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an RTSP camera', () => {
  it('records the main stream by copy, survives the server dying and coming back, and reports the outage', async () => {
    const probeSetups = server.setups.length;
    const served = probeVideo(url('/cam'), ['-rtsp_transport', 'tcp']);
    // ffprobe sets up both tracks; the server's lines about it arrive once the event loop runs again.
    await waitFor("ffprobe's two tracks", () => server.setups.length - probeSetups >= 2);
    expect(served).toMatchObject({ codec_name: 'h264', profile: 'High', width: 640, height: 360 });
    const { capture, health, clips } = makeCapture('main', { source: 'rtsp', rtsp: { url: url('/cam') } });
    const setupsBefore = server.setups.length;
    await capture.start();
    try {
      await waitFor('video', () => capture.health().ok);
      // Audio is never recorded, so it is never set up: the camera sends the agent video only.
      expect(server.setups.slice(setupsBefore)).toEqual([`rtsp://127.0.0.1:${port}/cam/stream=0`]);
      capture.trigger({ kind: 'ring', source: 'manual', at: Date.now() });
      const clip = await waitFor('a clip', () => clips[0]);
      // Same profile, level, size and reference frames as the camera sent: copied, not re-encoded
      // (a re-encode here would be libx264 ultrafast: Constrained Baseline).
      expect(probeVideo(clip.path)).toEqual(served);

      const killedAt = Date.now();
      await server.kill();
      const down = await waitFor('the outage in the state', () => !capture.health().ok && capture.health());
      expect(down.since).toBeGreaterThanOrEqual(killedAt - 1_000);
      expect(down.detail).toBeTruthy();
      const outageDetails = await waitFor('a failed reconnect', () => {
        const details = health.filter((h) => !h.ok && h.since >= down.since).map((h) => h.detail ?? '');
        return details.some((d) => /restarting in/.test(d)) && details;
      });

      await sleep(2_000);
      server = await TestRtspServer.start({ port, path: '/cam', pattern: 'smpte', audio: true, subPath: '/sub', subPattern: 'ball', user: USER, password: PASSWORD });
      const back = await waitFor('recovery', () => capture.health().ok && capture.health(), 45_000);
      expect(back.restarts).toBeGreaterThanOrEqual(1);
      expect(back.lastGap).not.toBeNull();
      expect(back.lastGap!.end - back.lastGap!.start).toBeGreaterThanOrEqual(2_000);

      const texts = [...outageDetails, ...health.map((h) => JSON.stringify(h)), JSON.stringify(capture.health()), ...logs.lines];
      expect(texts.some((t) => t.includes(`127.0.0.1:${port}/cam`))).toBe(true);
      for (const secret of SECRETS) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  it('detects motion in a branch of the one session when the camera has no sub-stream', async () => {
    const before = server.clients.length;
    // The ball stream as the only stream: motion must come from the pre-roll ffmpeg's own branch.
    const { capture, motions } = makeCapture('branch', { source: 'rtsp', rtsp: { url: url('/sub') }, motion: { enabled: true } });
    await capture.start();
    try {
      await waitFor('video motion', () => motions.length > 0);
      expect(server.clients.length - before).toBe(1);
    } finally {
      await capture.stop();
    }
  });

  it("detects motion in the camera's sub-stream while recording the still main stream", async () => {
    const before = server.clients.length;
    const { capture, motions, clips } = makeCapture('sub', {
      source: 'rtsp',
      rtsp: { url: url('/cam'), subUrl: url('/sub') },
      motion: { enabled: true },
    });
    await capture.start();
    try {
      await waitFor('video motion', () => motions.length > 0);
      expect(server.clients.length - before).toBe(2);
      capture.trigger({ kind: 'motion', source: 'video', at: motions[0]! });
      const clip = await waitFor('a clip', () => clips[0]);
      expect(probeVideo(clip.path)).toMatchObject({ width: 640, height: 360 });
    } finally {
      await capture.stop();
    }
  });

  it('gives a fresh ffmpeg time to connect before judging a stall, restarts the sub-stream reader of a hung camera, and sees motion again', async () => {
    const hungPort = await freePort();
    const hung = await TestRtspServer.start({ port: hungPort, path: '/cam', pattern: 'smpte', subPath: '/sub', subPattern: 'ball' });
    const at = (path: string): string => `rtsp://127.0.0.1:${hungPort}${path}`;
    const { capture, motions } = makeCapture('hung', {
      source: 'rtsp',
      rtsp: { url: at('/cam'), subUrl: at('/sub') },
      stallSeconds: 2,
      motion: { enabled: true },
    });
    await capture.start();
    try {
      await waitFor('video motion', () => motions.length > 0);
      // Connecting and the first keyframe took longer than stallSeconds: that is a start, not a stall.
      expect(capture.health()).toMatchObject({ ok: true, restarts: 0 });
      expect(logs.lines.filter((l) => l.includes('"test":"hung"') && l.includes('stalled'))).toEqual([]);
      const frozenAt = Date.now();
      hung.freeze();
      const stalled = await waitFor(
        'the stall noticed',
        () => logs.lines.find((l) => l.includes('motion sub-stream stalled; stopping its ffmpeg') && l.includes('"test":"hung"')),
        20_000,
      );
      // Noticed after stallSeconds without a frame, not before (frames come every 200 ms until the freeze).
      expect(Date.parse((JSON.parse(stalled) as { time: string }).time)).toBeGreaterThanOrEqual(frozenAt + 1_500);
      hung.thaw();
      const seen = motions.length;
      await waitFor('motion after the camera came back', () => motions.length > seen, 45_000);
    } finally {
      hung.thaw();
      await capture.stop();
      await hung.stop();
    }
  });

  it('emits no motion once it is stopping, so a listener that places triggers never meets a stopped capture', async () => {
    const { capture, motions } = makeCapture('stopping', {
      source: 'rtsp',
      rtsp: { url: url('/cam'), subUrl: url('/sub') },
      // A frame every 67 ms, each flushed on its own (larger than ffmpeg's 32 KiB block), so reports come on time.
      motion: { enabled: true, fps: 15, width: 320, height: 180 },
    });
    let stopping = false;
    const late: number[] = [];
    // As the agent does: every video motion is placed in a clip. A throw here would end the agent.
    capture.on('motion', (e) => {
      if (stopping) late.push(e.at);
      capture.trigger({ kind: 'motion', source: 'video', at: e.at });
    });
    await capture.start();
    try {
      // The ball never stops, so motion is reported once a second; stop as the next report is due.
      const seen = (await waitFor('video motion', () => motions.length > 0 && motions.length)) + 1;
      await waitFor('a second report', () => motions.length >= seen);
      await sleep(980);
    } finally {
      stopping = true;
      await capture.stop();
    }
    expect(late).toEqual([]);
  });
});
