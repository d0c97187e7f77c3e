/**
 * The node-onvif wrapper and `doorbell onvif discover` against a test ONVIF device on loopback
 * (SOAP over node:http, with WS-Security digests checked) and a WS-Discovery responder.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chooseProfile, discoverOnvif, OnvifCamera, OnvifSource, withCredentials, type OnvifProfile } from '../../agent/capture/index.js';
import { describeDiscovery, onvif } from '../../agent/cli/onvif.js';
import { silentLogger } from '../../agent/log.js';
import { startDiscoveryResponder, startOnvifDevice, type TestOnvifDevice } from '../fixtures/camera/onvif-device.js';

const USER = 'admin';
const PASSWORD = 'Door:b@ll/42%';
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);
const PROFILES = [
  { token: 'sub', name: 'subStream', width: 320, height: 180, fps: 10, encoding: 'H264' as const, rtspUri: 'rtsp://127.0.0.1:8554/sub' },
  { token: 'main', name: 'mainStream', width: 1920, height: 1080, fps: 15, encoding: 'H264' as const, rtspUri: 'rtsp://127.0.0.1:8554/cam?channel=1&stream=0' },
  { token: 'mjpeg', name: 'jpegStream', width: 2560, height: 1440, fps: 5, encoding: 'JPEG' as const, rtspUri: 'rtsp://127.0.0.1:8554/mjpeg' },
];

let device: TestOnvifDevice;
let hanging: TestOnvifDevice;

beforeAll(async () => {
  device = await startOnvifDevice({ username: USER, password: PASSWORD, profiles: PROFILES, snapshot: JPEG });
  hanging = await startOnvifDevice({ username: USER, password: PASSWORD, profiles: PROFILES, snapshotHangs: true });
});

afterAll(async () => {
  await device.close();
  await hanging.close();
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('an ONVIF device through node-onvif', () => {
  it('reads the device information, profiles and stream URIs as the device reports them', async () => {
    const camera = await OnvifCamera.connect({ xaddr: device.xaddr, username: USER, password: PASSWORD, timeoutMs: 5_000 });
    expect(camera.info).toEqual({ manufacturer: 'Doorbell Test', model: 'LoopCam 1', firmware: '1.2.3', serial: 'TEST0001' });
    const main = camera.profiles.find((p) => p.token === 'main');
    expect(main).toMatchObject({ name: 'mainStream', width: 1920, height: 1080, fps: 15, codec: 'H264' });
    // Constructed with xaddr, node-onvif leaves the URI alone: port and query survive.
    expect(main!.rtspUri).toBe('rtsp://127.0.0.1:8554/cam?channel=1&stream=0');
    expect(main!.snapshotUri).toMatch(/\/snapshot\/main\.jpg$/);
    expect(device.calls).toEqual(expect.arrayContaining(['GetSystemDateAndTime', 'GetCapabilities', 'GetProfiles', 'GetStreamUri:main:RTSP']));
  });

  it('says the login was refused, without repeating the password', async () => {
    const err = await OnvifCamera.connect({ xaddr: device.xaddr, username: USER, password: 'wrong-secret', timeoutMs: 5_000 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/refused the username or password/);
    expect((err as Error).message).not.toContain('wrong-secret');
  });

  it('says an address that does not answer is not reachable', async () => {
    const port = await closedPort();
    await expect(
      OnvifCamera.connect({ xaddr: `http://127.0.0.1:${port}/onvif/device_service`, username: USER, password: PASSWORD, timeoutMs: 5_000 }),
    ).rejects.toThrow(/not reachable/);
  });

  it('fetches a snapshot, and gives up on one that never comes', async () => {
    const camera = await OnvifCamera.connect({ xaddr: device.xaddr, username: USER, password: PASSWORD, timeoutMs: 5_000 });
    expect(await camera.fetchSnapshot('main', 2_000)).toEqual(JPEG);
    const stuck = await OnvifCamera.connect({ xaddr: hanging.xaddr, username: USER, password: PASSWORD, timeoutMs: 5_000 });
    await expect(stuck.fetchSnapshot('main', 300)).rejects.toThrow(/snapshot of profile "main": no answer within 0.3 s/);
    expect(hanging.calls).toContain('snapshot:/snapshot/main.jpg');
  });
});

describe('choosing profiles', () => {
  const profiles: OnvifProfile[] = PROFILES.map((p) => ({ ...p, codec: p.encoding, snapshotUri: null }));

  it('takes the largest H.264/H.265 profile as the main stream by default (never MJPEG)', () => {
    expect(chooseProfile(profiles, undefined, 'main').token).toBe('main');
  });

  it('takes a configured profile by token or by name', () => {
    expect(chooseProfile(profiles, 'sub', 'sub').token).toBe('sub');
    expect(chooseProfile(profiles, 'subStream', 'sub').token).toBe('sub');
  });

  it('lists the profiles when the configured one does not exist', () => {
    expect(() => chooseProfile(profiles, 'third', 'sub')).toThrow(/subProfile "third" is not a profile.*"main" \(mainStream\)/);
  });

  it('puts the login into a stream URI, encoded', () => {
    expect(withCredentials('rtsp://127.0.0.1:8554/cam?x=1', USER, PASSWORD)).toBe('rtsp://admin:Door%3Ab%40ll%2F42%25@127.0.0.1:8554/cam?x=1');
    expect(withCredentials('rtsp://u:p@127.0.0.1/cam', USER, PASSWORD)).toBe('rtsp://u:p@127.0.0.1/cam');
    expect(withCredentials('rtsp://127.0.0.1/cam', '', '')).toBe('rtsp://127.0.0.1/cam');
  });
});

describe('the ONVIF camera source', () => {
  it('resolves the main and sub profiles to RTSP inputs with the login, and never shows the password', async () => {
    const source = new OnvifSource({ xaddr: device.xaddr, username: USER, password: PASSWORD, subProfile: 'subStream', connectTimeoutSeconds: 5 });
    expect(source.hasMotionStream).toBe(true);
    expect(() => source.inputArgs()).toThrow(/not resolved yet/);
    await source.prepare({} as never, silentLogger);
    const input = source.inputArgs();
    expect(input.slice(0, 6)).toEqual(['-rtsp_transport', 'tcp', '-allowed_media_types', 'video', '-timeout', '5000000']);
    expect(input.at(-1)).toBe('rtsp://admin:Door%3Ab%40ll%2F42%25@127.0.0.1:8554/cam?channel=1&stream=0');
    expect(source.videoArgs()).toEqual(['-c:v', 'copy']);
    expect(source.motionInputArgs().at(-1)).toBe('rtsp://admin:Door%3Ab%40ll%2F42%25@127.0.0.1:8554/sub');
    const described = source.describe();
    expect(described).toMatch(/mainStream.*subStream/);
    const leak = `[tcp @ 0x1] rtsp://admin:Door%3Ab%40ll%2F42%25@127.0.0.1:8554/cam: Connection refused; login was ${PASSWORD}`;
    for (const text of [described, source.redact(leak)]) {
      expect(text).not.toContain('Door');
      expect(text).not.toContain(encodeURIComponent(PASSWORD).slice(4));
    }
  });
});

describe('doorbell onvif discover', () => {
  it('finds a device that answers the WS-Discovery probe', async () => {
    const responder = await startDiscoveryResponder({ xaddr: device.xaddr, name: 'Front Door Cam', hardware: 'LoopCam1' });
    try {
      const found = await discoverOnvif(1_000, { address: '127.0.0.1', port: responder.port });
      expect(found).toEqual([expect.objectContaining({ name: 'Front Door Cam', hardware: 'LoopCam1', xaddrs: [device.xaddr] })]);
      expect(describeDiscovery(found, 1)).toContain(device.xaddr);
    } finally {
      await responder.close();
    }
  });

  it('explains what to check when no device answers', async () => {
    const found = await discoverOnvif(500, { address: '127.0.0.1', port: await closedPort() });
    expect(found).toEqual([]);
    const text = describeDiscovery(found, 0.5);
    expect(text).toMatch(/No ONVIF device answered within 0.5 s/);
    expect(text).toMatch(/does not cross routers or VLANs/);
    expect(text).toContain('--xaddr');
  });

  it('lists a device\'s profiles and stream URIs and suggests the config, without the password', async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const code = await onvif.run(['discover'], { xaddr: device.xaddr, user: USER, password: PASSWORD, timeout: '5' });
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
    }
    const text = out.join('');
    expect(text).toMatch(/Doorbell Test LoopCam 1, firmware 1\.2\.3/);
    expect(text).toMatch(/main {2}"mainStream" {2}1920x1080 H264 15 fps/);
    expect(text).toContain('rtsp://127.0.0.1:8554/sub');
    expect(text).toMatch(/mainProfile: main\n\s+subProfile: sub /);
    expect(text).not.toContain('Door:b');
  });
});
