import { writeFile } from 'node:fs/promises';
import {
  chooseProfile,
  deviceServiceUrl,
  discoverOnvif,
  OnvifCamera,
  WS_DISCOVERY,
  type DiscoveredDevice,
  type OnvifProfile,
} from '../capture/index.js';
import { redactUrl } from '../log.js';
import { UsageError, jsonOption, print, printJson, type Command, type Flags } from './command.js';

const DEFAULT_TIMEOUT_SECONDS = 3;
const PASSWORD_ENV = 'DOORBELL_ONVIF_PASSWORD';

/** What `onvif discover` prints after a WS-Discovery probe. */
export function describeDiscovery(devices: readonly DiscoveredDevice[], timeoutSeconds: number): string {
  if (!devices.length) {
    return [
      `No ONVIF device answered within ${timeoutSeconds} s (WS-Discovery to ${WS_DISCOVERY.address}:${WS_DISCOVERY.port}).`,
      'Check that:',
      '  - the camera is on this LAN segment: discovery is multicast and does not cross routers or VLANs;',
      "  - ONVIF is enabled in the camera's settings (often off by default, sometimes with its own user);",
      '  - no firewall drops UDP 3702 here or on the camera.',
      'Or give its address directly:',
      '  doorbell onvif discover --xaddr http://CAMERA/onvif/device_service --user USER --password PASSWORD',
    ].join('\n');
  }
  const lines = [`${devices.length} ONVIF device${devices.length === 1 ? '' : 's'} answered:`];
  for (const d of devices) {
    const label = [d.name, d.hardware].filter(Boolean).join(', ') || d.urn;
    lines.push(`  ${label}${d.location ? ` (${d.location})` : ''}`);
    for (const xaddr of d.xaddrs) lines.push(`    ${xaddr}`);
  }
  lines.push('List its profiles and stream URIs with: doorbell onvif discover --xaddr URL --user USER --password PASSWORD');
  return lines.join('\n');
}

function profileLine(p: OnvifProfile): string {
  const size = p.width && p.height ? `${p.width}x${p.height}` : 'size unknown';
  const fps = p.fps ? ` ${p.fps} fps` : '';
  return `  ${p.token}  "${p.name}"  ${size} ${p.codec ?? 'no video encoder'}${fps}`;
}

/** What `onvif discover --xaddr` prints: the device, its profiles, and the config that uses them. */
export function describeDevice(camera: OnvifCamera, xaddr: string, username: string): string {
  const { manufacturer, model, firmware, serial } = camera.info;
  const lines = [`${[manufacturer, model].filter(Boolean).join(' ') || 'ONVIF device'}${firmware ? `, firmware ${firmware}` : ''}${serial ? `, serial ${serial}` : ''}`];
  lines.push('Profiles (token, name, resolution, codec):');
  for (const p of camera.profiles) {
    lines.push(profileLine(p));
    lines.push(`    stream   ${p.rtspUri ? redactUrl(p.rtspUri) : 'no RTSP URI'}`);
    if (p.snapshotUri) lines.push(`    snapshot ${redactUrl(p.snapshotUri)}`);
  }
  let main: OnvifProfile | null = null;
  try {
    main = chooseProfile(camera.profiles, undefined, 'main');
  } catch (err) {
    lines.push(`No profile can be recorded: ${(err as Error).message}`);
  }
  if (main) {
    const smallest = camera.profiles
      .filter((p) => p !== main && p.rtspUri && p.width && p.height)
      .sort((a, b) => a.width! * a.height! - b.width! * b.height!)[0];
    lines.push('In the config (the password stays out of this output):');
    lines.push('  camera:', '    source: onvif', '    onvif:', `      xaddr: ${redactUrl(xaddr)}`);
    if (username) lines.push(`      username: ${username}`, '      password: …');
    lines.push(`      mainProfile: ${main.token}`);
    if (smallest) lines.push(`      subProfile: ${smallest.token}   # optional: motion detection reads this smaller stream`);
  }
  return lines.join('\n');
}

function seconds(flags: Flags): number {
  const raw = flags.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(flags.timeout);
  if (!Number.isFinite(raw) || raw <= 0 || raw > 60) throw new Error('--timeout takes seconds, more than 0 and at most 60');
  return raw;
}

async function listProfiles(flags: Flags, timeoutSeconds: number): Promise<number> {
  const xaddr = typeof flags.xaddr === 'string' ? flags.xaddr : deviceServiceUrl(String(flags.address));
  if (!/^https?:\/\//.test(xaddr)) throw new Error('--xaddr takes the device service URL, e.g. http://192.168.1.30/onvif/device_service');
  const username = typeof flags.user === 'string' ? flags.user : '';
  const password = typeof flags.password === 'string' ? flags.password : (process.env[PASSWORD_ENV] ?? '');
  const camera = await OnvifCamera.connect({ xaddr, username, password, timeoutMs: timeoutSeconds * 1000 });
  if (flags.json) printJson({ xaddr: redactUrl(xaddr), device: camera.info, profiles: camera.profiles });
  else print(describeDevice(camera, xaddr, username));
  if (typeof flags.snapshot === 'string') {
    const main = chooseProfile(camera.profiles, undefined, 'main');
    const jpeg = await camera.fetchSnapshot(main.token, timeoutSeconds * 1000);
    await writeFile(flags.snapshot, jpeg);
    if (!flags.json) print(`Snapshot of "${main.name}" (${jpeg.length} bytes) written to ${flags.snapshot}`);
  }
  return 0;
}

export const onvif: Command = {
  usage: 'onvif discover [--timeout S] [--json] | onvif discover --xaddr URL|--address HOST[:PORT] [--user U] [--password P] [--snapshot FILE]',
  summary: `find ONVIF cameras on the LAN, or list one camera's profiles and stream URIs (password also from $${PASSWORD_ENV})`,
  options: {
    ...jsonOption,
    timeout: { type: 'string' },
    xaddr: { type: 'string' },
    address: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    snapshot: { type: 'string' },
  },
  async run(args, flags) {
    if (args[0] !== 'discover' || args.length > 1) throw new UsageError('which one: discover?', 'onvif');
    const timeoutSeconds = seconds(flags);
    if (flags.xaddr !== undefined || flags.address !== undefined) return listProfiles(flags, timeoutSeconds);
    const devices = await discoverOnvif(timeoutSeconds * 1000);
    if (flags.json) printJson(devices);
    else print(describeDiscovery(devices, timeoutSeconds));
    return devices.length ? 0 : 1;
  },
};
