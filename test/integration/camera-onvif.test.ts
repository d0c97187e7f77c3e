/**
 * The onvif source end to end: a test ONVIF device on loopback (SOAP over node:http) whose profiles
 * point at a real RTSP server (GStreamer) asking for the same login. The agent resolves the main
 * profile's stream URI, adds the login, and records it by copy, like an RTSP camera. A device that is
 * not answering yet when the agent starts is retried until it does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture, locateFfmpeg, type FfmpegPaths } from '../../agent/capture/index.js';
import { systemClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { FolderSink, LogLines } from '../fixtures/camera/clip-sink.js';
import { startOnvifDevice, type TestOnvifDevice, type TestProfile } from '../fixtures/camera/onvif-device.js';
import { TestRtspServer } from '../fixtures/camera/rtsp-server.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor as waitUntil } from '../helpers/wait.js';

const USER = 'operator';
const PASSWORD = 'onvif&rtsp:Pa55';

const waitFor = <T>(what: string, check: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> =>
  waitUntil(what, check, timeoutMs);

let dir: string;
let paths: FfmpegPaths;
let rtsp: TestRtspServer;
let profiles: TestProfile[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camera-onvif-'));
  paths = await locateFfmpeg();
  const rtspPort = await freePort();
  rtsp = await TestRtspServer.start({ port: rtspPort, path: '/cam', subPath: '/sub', user: USER, password: PASSWORD });
  // The device lists its small stream first, as many do: the agent must still pick the main one.
  profiles = [
    { token: 'Profile_2', name: 'subStream', width: 320, height: 180, fps: 15, encoding: 'H264', rtspUri: `rtsp://127.0.0.1:${rtspPort}/sub` },
    { token: 'Profile_1', name: 'mainStream', width: 640, height: 360, fps: 15, encoding: 'H264', rtspUri: `rtsp://127.0.0.1:${rtspPort}/cam` },
  ];
});

afterAll(async () => {
  await rtsp.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an ONVIF camera', () => {
  it('is found by ONVIF once it answers, then recorded by copy from its main profile', async () => {
    const devicePort = await freePort();
    const logs = new LogLines();
    const config = parseConfig({
      runtime: { dir: join(dir, 'run') },
      camera: {
        source: 'onvif',
        onvif: { xaddr: `http://127.0.0.1:${devicePort}/onvif/device_service`, username: USER, password: PASSWORD },
        connectTimeoutSeconds: 2,
        stallSeconds: 5,
      },
      record: { preRollSeconds: 2, postRollSeconds: 2, maxClipSeconds: 10 },
    });
    const clips: ClipRecord[] = [];
    const capture = new Capture({
      config,
      ffmpeg: paths,
      sink: new FolderSink(mkdtempSync(join(dir, 'clips-'))),
      clock: systemClock,
      log: createLogger({ level: 'debug', sink: logs }),
    });
    capture.on('clip-ready', ({ clip }) => clips.push(clip));
    let device: TestOnvifDevice | null = null;
    await capture.start();
    try {
      // Nothing listens yet (the camera boots slower than the agent): the state says so, without the password.
      const waiting = await waitFor('the unreachable device in the state', () => /not reachable/.test(capture.health().detail ?? '') && capture.health());
      expect(waiting.ok).toBe(false);
      expect(waiting.detail).toMatch(/cannot start the camera: ONVIF device http:\/\/127\.0\.0\.1:\d+\/onvif\/device_service is not reachable/);

      device = await startOnvifDevice({ username: USER, password: PASSWORD, profiles, port: devicePort });
      await waitFor('video', () => capture.health().ok, 30_000);
      expect(device.calls).toEqual(expect.arrayContaining(['GetProfiles', 'GetStreamUri:Profile_1:RTSP']));

      capture.trigger({ kind: 'ring', source: 'manual', at: Date.now() });
      const clip = await waitFor('a clip', () => clips[0]);
      const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,profile,width,height', '-of', 'csv=p=0', clip.path], { encoding: 'utf8' });
      expect(probe.trim()).toBe('h264,High,640,360');

      const texts = [...logs.lines, JSON.stringify(capture.health())];
      expect(texts.some((t) => t.includes('mainStream'))).toBe(true);
      for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 'Pa55']) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    } finally {
      await capture.stop();
      await device?.close();
    }
  });
});
