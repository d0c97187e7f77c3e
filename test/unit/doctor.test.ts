import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, type ConfigInput } from '../../agent/config.js';
import { formatReport, mountOf, parseMounts, runDoctor, type DoctorCheck, type DoctorProbes, type RunResult } from '../../agent/doctor/index.js';
import { b64urlEncode, DeviceKey, generateOwnerKey, OwnerRegistry } from '../../agent/owner/index.js';
import { openDatabase } from '../../agent/store/database.js';
import { systemClock } from '../../agent/clock.js';
import { silentLogger } from '../../agent/log.js';

const temp = mkdtempSync(join(tmpdir(), 'doctor-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const ENCODERS = `Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_v4l2m2m         V4L2 mem2mem H.264 encoder wrapper (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
`;

let dirs = 0;
/** A fresh store and runtime folder, and the mount table that puts the runtime folder in RAM. */
function folders(): { store: string; runtime: string; mounts: string } {
  const base = join(temp, `case${dirs++}`);
  const store = join(base, 'store');
  const runtime = join(base, 'run');
  mkdirSync(store, { recursive: true });
  mkdirSync(runtime, { recursive: true });
  const mounts = `/dev/mmcblk0p2 / ext4 rw,noatime 0 0\ntmpfs ${runtime} tmpfs rw,nosuid,nodev 0 0\n`;
  return { store, runtime, mounts };
}

type Runner = (command: string, args: string[]) => RunResult | Error;

function probes(mounts: string, over: Partial<DoctorProbes> & { answers?: Runner } = {}): Partial<DoctorProbes> {
  const answers: Runner = (command, args) => {
    if (command.endsWith('ffmpeg') && args.includes('-encoders')) return { code: 0, stdout: ENCODERS, stderr: '' };
    if (command === 'timedatectl') return { code: 0, stdout: 'yes\n', stderr: '' };
    return Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
  };
  const { answers: custom, ...rest } = over;
  return {
    run: async (command, args) => {
      const answer = custom?.(command, args) ?? answers(command, args);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    readFile: async () => mounts,
    freeBytes: async () => 100 * 1024 ** 3,
    locateFfmpeg: async () => ({ ffmpeg: '/usr/bin/ffmpeg', ffprobe: '/usr/bin/ffprobe', version: '5.1.6' }),
    agentCamera: async () => null,
    grabFrame: async () => 51_234,
    connectBroker: async () => undefined,
    loadOnoff: async () => ({}),
    uid: () => 1000,
    ...rest,
  };
}

async function doctor(input: ConfigInput, over: Partial<DoctorProbes> & { answers?: Runner } = {}, f = folders()) {
  const config = parseConfig({ storage: { dir: f.store }, runtime: { dir: f.runtime }, ...input }, 'test', {});
  const report = await runDoctor(config, probes(f.mounts, over));
  const check = (prefix: string): DoctorCheck => {
    const found = report.checks.find((c) => c.name.startsWith(prefix));
    if (!found) throw new Error(`no check ${prefix} in ${report.checks.map((c) => c.name).join(', ')}`);
    return found;
  };
  return { report, check, f };
}

function enrollOwner(store: string, revoke = false): void {
  const db = openDatabase(join(store, 'doorbell.db'));
  const registry = new OwnerRegistry({ db, clock: systemClock, log: silentLogger });
  registry.start();
  const key = registry.add('Alice phone', b64urlEncode(generateOwnerKey().publicKeyRaw), 'age1uavld2hjtuukr96p2r554nuv6wy7e3wtdtlp7jqhvlcxz6hldf4sauegfn', 'cli');
  if (revoke) registry.revoke(key.keyId);
  db.close();
}

describe('mount table', () => {
  it('unescapes mount points and finds the innermost mount holding a path', () => {
    const mounts = parseMounts('/dev/root / ext4 rw 0 0\n/dev/sda1 /mnt/usb\\040disk vfat rw 0 0\ntmpfs /run tmpfs rw 0 0\n');
    expect(mounts[1]!.mountPoint).toBe('/mnt/usb disk');
    expect(mountOf(mounts, '/mnt/usb disk/doorbell')?.type).toBe('vfat');
    expect(mountOf(mounts, '/run/doorbell')?.type).toBe('tmpfs');
    expect(mountOf(mounts, '/running')?.type).toBe('ext4');
  });
});

describe('doorbell doctor checks', () => {
  it('passes everything on a healthy machine, in a fixed order', async () => {
    const f = folders();
    enrollOwner(f.store);
    const { report } = await doctor({ mqtt: { url: 'mqtt://broker.lan:1883', username: 'frontdoor', password: 's3cret' } }, {}, f);
    expect(report.checks.map((c) => [c.name, c.ok, c.warning ?? false])).toEqual([
      ['ffmpeg', true, false],
      ['camera', true, false],
      ['gpio (simulated)', true, false],
      ['store writable', true, false],
      ['store space', true, false],
      ['runtime in RAM', true, false],
      ['clock', true, false],
      ['broker', true, false],
      ['owner keys', true, false],
      ['outbox', true, false],
    ]);
    expect(report.ok).toBe(true);
    expect(formatReport(report)).toMatch(/all checks passed\n$/);
    expect(JSON.stringify(report)).not.toContain('s3cret');
  });

  it('ffmpeg: reports the version and encoders; fails without ffmpeg or without libx264', async () => {
    const ok = await doctor({});
    expect(ok.check('ffmpeg').detail).toBe('ffmpeg 5.1.6 at /usr/bin/ffmpeg; H.264 encoders: libx264 yes, h264_v4l2m2m yes (hardware, where the Pi has one)');

    const missing = await doctor({}, { locateFfmpeg: async () => Promise.reject(new Error('ffmpeg not found on PATH')) });
    expect(missing.check('ffmpeg')).toMatchObject({ ok: false, detail: 'ffmpeg not found on PATH', fix: expect.stringContaining('apt-get install ffmpeg') });
    // The camera is not tried without ffmpeg.
    expect(missing.check('camera')).toMatchObject({ ok: false, detail: 'synthetic: not checked, ffmpeg was not found' });

    const noX264 = await doctor({}, { answers: (c) => (c.endsWith('ffmpeg') ? { code: 0, stdout: ' A....D aac  AAC\n', stderr: '' } : undefined as never) });
    expect(noX264.check('ffmpeg')).toMatchObject({ ok: false, fix: expect.stringContaining('libx264') });
  });

  it('camera: fails with the reason when no frame can be recorded', async () => {
    const { check } = await doctor({}, { grabFrame: async () => Promise.reject(new Error('no frame within 20 s from synthetic 1280x720')) });
    expect(check('camera')).toMatchObject({ ok: false, detail: 'no frame within 20 s from synthetic 1280x720' });
    expect((await doctor({}, { grabFrame: async () => 0 })).check('camera').ok).toBe(false);
  });

  it('camera: asks the running agent instead of opening the camera it holds', async () => {
    const grabbed: string[] = [];
    const grabFrame = async (): Promise<number> => {
      grabbed.push('frame');
      return 1;
    };
    const recording = { ok: true, lastSegmentAt: Date.now() - 1_000, restarts: 2 };
    const ok = await doctor({}, { agentCamera: async () => recording, grabFrame });
    expect(ok.check('camera')).toMatchObject({ ok: true, detail: expect.stringMatching(/^synthetic: the running agent records \(newest segment \d s ago, 2 ffmpeg restarts\)$/) });

    const down = { ok: false, lastSegmentAt: null, restarts: 5, detail: 'no video for 10 s; restarting in 32 s' };
    const stalled = await doctor({}, { agentCamera: async () => down, grabFrame });
    expect(stalled.check('camera')).toMatchObject({
      ok: false,
      detail: 'synthetic: the running agent gets no video: no video for 10 s; restarting in 32 s (newest segment none yet, 5 ffmpeg restarts)',
    });
    expect(grabbed).toEqual([]);

    const denied = await doctor({}, { agentCamera: async () => Promise.reject(new Error('permission denied on the control socket')) });
    expect(denied.check('camera')).toMatchObject({ ok: false, fix: expect.stringContaining('sudo -u doorbell') });
  });

  it('gpio onoff: maps every configured pin through sysfs, and says what to do when sysfs GPIO is missing', async () => {
    const sys = join(temp, 'sys');
    const gpio = join(sys, 'class', 'gpio');
    mkdirSync(join(gpio, 'gpiochip512'), { recursive: true });
    writeFileSync(join(gpio, 'export'), '');
    writeFileSync(join(gpio, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
    writeFileSync(join(gpio, 'gpiochip512', 'base'), '512\n');
    writeFileSync(join(gpio, 'gpiochip512', 'ngpio'), '58\n');
    const onoff = { gpio: { backend: 'onoff' as const, chime: { pin: 22 } } };
    const ok = await doctor(onoff, { sysfsRoot: sys });
    expect(ok.check('gpio')).toEqual({
      name: 'gpio (onoff)',
      ok: true,
      detail: 'button 17 → gpio529 on pinctrl-bcm2711, pir 27 → gpio539 on pinctrl-bcm2711, chime 22 → gpio534 on pinctrl-bcm2711',
    });

    const outOfRange = await doctor({ gpio: { backend: 'onoff', button: { pin: 60 } } }, { sysfsRoot: sys });
    expect(outOfRange.check('gpio')).toMatchObject({ ok: false, fix: expect.stringContaining('BCM pin numbers') });

    const gone = await doctor(onoff, { sysfsRoot: join(temp, 'no-sys') });
    expect(gone.check('gpio')).toMatchObject({ ok: false, fix: 'set gpio.backend to "gpiod" (this kernel has no sysfs GPIO)' });

    const noPackage = await doctor(onoff, { sysfsRoot: sys, loadOnoff: async () => Promise.reject(new Error('onoff failed to build')) });
    expect(noPackage.check('gpio')).toMatchObject({ ok: false, detail: 'onoff failed to build' });
  });

  it('gpio gpiod: finds the Pi controller with gpiodetect, and explains missing tools', async () => {
    const pi5 = readFileSync('test/fixtures/gpio/gpiodetect-v2-pi5.txt', 'utf8');
    const gpiod = { gpio: { backend: 'gpiod' as const } };
    const ok = await doctor(gpiod, { answers: (c) => (c === 'gpiodetect' ? { code: 0, stdout: pi5, stderr: '' } : (undefined as never)) });
    expect(ok.check('gpio')).toMatchObject({ ok: true, detail: 'gpiochip0 [pinctrl-rp1], 54 lines; button 17, pir 27' });

    const notPi = await doctor(gpiod, { answers: (c) => (c === 'gpiodetect' ? { code: 0, stdout: 'gpiochip0 [gpio-mockup-A] (8 lines)\n', stderr: '' } : (undefined as never)) });
    expect(notPi.check('gpio')).toMatchObject({ ok: false, detail: expect.stringContaining('gpio-mockup-A'), fix: expect.stringContaining('simulated') });

    const noTools = await doctor(gpiod);
    expect(noTools.check('gpio')).toMatchObject({ ok: false, detail: expect.stringContaining('apt install gpiod') });
  });

  it('gpio auto: passes when either backend reaches the pins, and reports both when neither does', async () => {
    const pi4 = readFileSync('test/fixtures/gpio/gpiodetect-v1-pi4.txt', 'utf8');
    const auto = { gpio: { backend: 'auto' as const } };
    const noSysfs = join(temp, 'no-sys');
    const ok = await doctor(auto, { sysfsRoot: noSysfs, answers: (c) => (c === 'gpiodetect' ? { code: 0, stdout: pi4, stderr: '' } : (undefined as never)) });
    expect(ok.check('gpio')).toMatchObject({ name: 'gpio (auto)', ok: true, detail: 'gpiod works: gpiochip0 [pinctrl-bcm2711], 58 lines; button 17, pir 27' });

    const neither = await doctor(auto, { sysfsRoot: noSysfs });
    expect(neither.check('gpio')).toMatchObject({ ok: false, detail: expect.stringMatching(/^gpiod: .*apt install gpiod.*; onoff: sysfs GPIO is not available/) });
  });

  it('store writable: leaves nothing behind, and says how to create a missing folder', async () => {
    const ok = await doctor({});
    expect(ok.check('store writable').ok).toBe(true);
    expect(readdirSync(ok.f.store)).toEqual([]);

    const f = folders();
    const missing = await doctor({ storage: { dir: join(f.store, 'not-yet') } }, {}, f);
    expect(missing.check('store writable')).toMatchObject({ ok: false, detail: expect.stringContaining('does not exist yet'), fix: expect.stringContaining('install -d -o doorbell') });
    expect(existsSync(join(f.store, 'not-yet'))).toBe(false);
  });

  it('store space: names the filesystem, fails when maxBytes cannot fit, warns about a store in RAM', async () => {
    const f = folders();
    writeFileSync(join(f.store, 'clip.mp4'), Buffer.alloc(4096));
    const ok = await doctor({ storage: { dir: f.store, maxBytes: '1GiB' } }, {}, f);
    expect(ok.check('store space')).toMatchObject({
      ok: true,
      detail: `${f.store} on ext4 (/dev/mmcblk0p2 on /): 100.0 GiB free, the store uses 4.0 KiB of its 1.0 GiB cap`,
    });

    const full = await doctor({ storage: { dir: f.store, maxBytes: '1GiB' } }, { freeBytes: async () => 100 * 1024 ** 2 }, f);
    expect(full.check('store space')).toMatchObject({ ok: false, fix: `lower storage.maxBytes to at most 100.0 MiB or free space on /` });

    const ro = { ...f, mounts: `/dev/mmcblk0p2 / ext4 ro,noatime 0 0\n` };
    expect((await doctor({}, {}, ro)).check('store space')).toMatchObject({ ok: false, detail: expect.stringContaining('mounted read-only') });

    const ram = { ...f, mounts: `${f.mounts}tmpfs ${f.store} tmpfs rw 0 0\n` };
    expect((await doctor({}, {}, ram)).check('store space')).toMatchObject({ ok: true, warning: true, detail: expect.stringContaining('clips are lost at reboot') });
  });

  it('runtime: fine in RAM, a warning on the SD card', async () => {
    const f = folders();
    expect((await doctor({}, {}, f)).check('runtime')).toMatchObject({ ok: true, detail: `${f.runtime} is on tmpfs (${f.runtime})` });
    const onCard = await doctor({}, {}, { ...f, mounts: '/dev/mmcblk0p2 / ext4 rw 0 0\n' });
    expect(onCard.check('runtime')).toMatchObject({ ok: true, warning: true, fix: expect.stringContaining('/run/doorbell') });
    expect(formatReport(onCard.report)).toContain('! runtime in RAM');
  });

  it('clock: synchronised passes, unsynchronised fails, no timedatectl is an explicit unknown', async () => {
    const answer = (stdout: string): Runner => (c) => (c === 'timedatectl' ? { code: 0, stdout, stderr: '' } : (undefined as never));
    expect((await doctor({}, { answers: answer('yes\n') })).check('clock').ok).toBe(true);
    expect((await doctor({}, { answers: answer('no\n') })).check('clock')).toMatchObject({ ok: false, fix: expect.stringContaining('timedatectl set-ntp true') });
    const unknown = await doctor({}, { answers: (c) => (c === 'timedatectl' ? Object.assign(new Error('spawn timedatectl ENOENT'), { code: 'ENOENT' }) : (undefined as never)) });
    expect(unknown.check('clock')).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^synchronisation unknown: timedatectl cannot run/) });
  });

  it('broker: connects with the configured credentials and a client id of its own; explains refusals', async () => {
    const seen: Parameters<DoctorProbes['connectBroker']>[0][] = [];
    const mqtt = { url: 'mqtt://broker.lan:1883', username: 'frontdoor', password: 's3cret' };
    const ok = await doctor({ mqtt }, { connectBroker: async (p) => void seen.push(p) });
    expect(ok.check('broker')).toMatchObject({ ok: true, detail: 'connected to mqtt://broker.lan:1883 as frontdoor' });
    expect(seen[0]).toMatchObject({ url: mqtt.url, username: 'frontdoor', password: 's3cret', timeoutMs: 5000 });
    expect(seen[0]!.clientId).toMatch(/^doorbell-doctor-frontdoor-[0-9a-f]{8}$/);

    const refused = Object.assign(new Error('Connection refused: Not authorized'), { code: 5 });
    const denied = await doctor({ mqtt }, { connectBroker: async () => Promise.reject(refused) });
    expect(denied.check('broker')).toMatchObject({ ok: false, fix: expect.stringContaining('mqtt.username and mqtt.password') });

    const down = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:1883'), { code: 'ECONNREFUSED' });
    const inUrl = { url: 'mqtt://frontdoor:s3cret@broker.lan:1883' };
    const unreachable = await doctor({ mqtt: inUrl }, { connectBroker: async () => Promise.reject(down) });
    expect(unreachable.check('broker')).toMatchObject({ ok: false, fix: expect.stringContaining('nothing listens at broker.lan:1883') });
    expect(unreachable.check('broker').detail).not.toContain('s3cret');

    const embedded = await doctor({});
    expect(embedded.check('broker')).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^embedded broker \(development\)/) });
  });

  it('owner keys: fails with no database, no key or only revoked keys; passes with an enrolled key', async () => {
    const none = await doctor({});
    expect(none.check('owner keys')).toMatchObject({ ok: false, detail: expect.stringContaining('no database yet') });

    const revoked = folders();
    enrollOwner(revoked.store, true);
    expect((await doctor({}, {}, revoked)).check('owner keys')).toMatchObject({
      ok: false,
      detail: 'no owner key enrolled (1 revoked): requests can only wait and expire',
      fix: expect.stringContaining('doorbell pair'),
    });

    const enrolled = folders();
    enrollOwner(enrolled.store);
    expect((await doctor({}, {}, enrolled)).check('owner keys')).toEqual({ name: 'owner keys', ok: true, detail: '1 enrolled: Alice phone' });
    const device = new DeviceKey({ dir: enrolled.store, log: silentLogger });
    await device.start();
    expect((await doctor({}, {}, enrolled)).check('owner keys')).toEqual({
      name: 'owner keys',
      ok: true,
      detail: `device ${device.keyId.replace(/(.{4})(?=.)/g, '$1 ')}; 1 enrolled: Alice phone`,
    });
  });

  it.skipIf(process.getuid?.() !== 0)('owner keys: as root, leaves a database that belongs to the agent user alone', async () => {
    const f = folders();
    enrollOwner(f.store);
    const db = join(f.store, 'doorbell.db');
    chownSync(db, 1234, 1234);
    const before = readdirSync(f.store).sort();
    const { check } = await doctor({}, { uid: () => 0 }, f);
    expect(check('owner keys')).toMatchObject({ ok: false, fix: expect.stringContaining('sudo -u doorbell') });
    expect(readdirSync(f.store).sort()).toEqual(before);
  });

  it('reports a check that throws as a failure of that check, and prints fixes under failures', async () => {
    const { report } = await doctor({}, { readFile: async () => Promise.reject(new Error('EACCES: /proc/self/mounts')) });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'store space')).toEqual({
      name: 'store space',
      ok: false,
      detail: 'the check failed: EACCES: /proc/self/mounts',
    });
    const text = formatReport(report);
    expect(text).toMatch(/^✗ owner keys +no database yet/m);
    expect(text).toMatch(/^ +→ start the agent once/m);
    expect(text).toMatch(/\d problems found\n$/);
  });
});
