/**
 * The one module that touches node-onvif (unmaintained): WS-Discovery, device information, media
 * profiles, stream and snapshot URIs. Its traps are handled here: a device is always constructed
 * with `{ xaddr }` (with `{ address }` it rewrites every stream URI, dropping scheme, port and
 * query), and neither its init() nor its fetchSnapshot() has an overall time limit, so both get one.
 */
import { createRequire } from 'node:module';
import { redactUrl } from '../log.js';

/** The parts of node-onvif's profile object used here. */
interface NodeOnvifProfile {
  token: string;
  name: string;
  snapshot: string;
  stream: { rtsp: string };
  video: {
    encoder: { resolution: { width: number; height: number }; framerate: number; encoding: string } | null;
  };
}

interface NodeOnvifDevice {
  init(): Promise<Record<string, string> | null>;
  getProfileList(): NodeOnvifProfile[];
  changeProfile(token: string): NodeOnvifProfile | null;
  fetchSnapshot(): Promise<{ headers: Record<string, string>; body: Buffer }>;
}

interface NodeOnvifProbe {
  urn: string;
  name: string;
  hardware: string;
  location: string;
  xaddrs: string[];
  scopes: string[];
}

/** node-onvif's module: a singleton whose probe settings are plain fields (set here for the wait and the target). */
interface NodeOnvif {
  OnvifDevice: new (params: { xaddr: string; user: string; pass: string }) => NodeOnvifDevice;
  startProbe(): Promise<NodeOnvifProbe[]>;
  _DISCOVERY_WAIT: number;
  _MULTICAST_ADDRESS: string;
  _PORT: number;
}

let loaded: NodeOnvif | null = null;

function nodeOnvif(): NodeOnvif {
  // A CommonJS package without type declarations; loaded only when an ONVIF camera is used.
  loaded ??= createRequire(import.meta.url)('node-onvif') as NodeOnvif;
  return loaded;
}

export const WS_DISCOVERY = { address: '239.255.255.250', port: 3702 } as const;

export interface DiscoveredDevice {
  name: string;
  hardware: string;
  location: string;
  /** Device service URLs: what camera.onvif.xaddr takes. */
  xaddrs: string[];
  urn: string;
}

export interface OnvifProfile {
  token: string;
  name: string;
  width: number | null;
  height: number | null;
  fps: number | null;
  /** H264, H265, JPEG, … as the device names it; null when the profile has no video encoder. */
  codec: string | null;
  /** As the device reports it, without credentials. */
  rtspUri: string | null;
  snapshotUri: string | null;
}

export interface OnvifDeviceInfo {
  manufacturer: string;
  model: string;
  firmware: string;
  serial: string;
}

export interface OnvifLogin {
  xaddr: string;
  username: string;
  password: string;
  timeoutMs: number;
}

/** The device service URL of a camera known by HOST[:PORT] (what node-onvif would build from `address`). */
export function deviceServiceUrl(address: string): string {
  return `http://${address}/onvif/device_service`;
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sends WS-Discovery probes and lists the devices that answer within `timeoutMs`. The target is the
 * standard multicast group; tests aim it at a responder on loopback.
 */
export async function discoverOnvif(timeoutMs: number, target: { address: string; port: number } = WS_DISCOVERY): Promise<DiscoveredDevice[]> {
  const lib = nodeOnvif();
  lib._DISCOVERY_WAIT = timeoutMs;
  lib._MULTICAST_ADDRESS = target.address;
  lib._PORT = target.port;
  const found = await lib.startProbe();
  return found.map((d) => ({ name: d.name, hardware: d.hardware, location: d.location, xaddrs: d.xaddrs, urn: d.urn }));
}

/** A connected ONVIF device: what init() learned, and snapshots. */
export class OnvifCamera {
  private constructor(
    private readonly device: NodeOnvifDevice,
    readonly info: OnvifDeviceInfo,
    readonly profiles: OnvifProfile[],
  ) {}

  /** Runs node-onvif's init (date and time, capabilities, device information, profiles, stream and snapshot URIs). */
  static async connect(login: OnvifLogin): Promise<OnvifCamera> {
    const lib = nodeOnvif();
    const device = new lib.OnvifDevice({ xaddr: login.xaddr, user: login.username, pass: login.password });
    let raw: Record<string, string> | null;
    try {
      raw = await withTimeout(device.init(), login.timeoutMs, `ONVIF device ${redactUrl(login.xaddr)}`);
    } catch (err) {
      throw new Error(explainInitFailure(err as Error, login.xaddr), { cause: err });
    }
    const info: OnvifDeviceInfo = {
      manufacturer: raw?.Manufacturer ?? '',
      model: raw?.Model ?? '',
      firmware: raw?.FirmwareVersion ?? '',
      serial: raw?.SerialNumber ?? '',
    };
    return new OnvifCamera(device, info, device.getProfileList().map(toProfile));
  }

  /** The profile's snapshot JPEG; node-onvif's fetch has no time limit, so this adds one. */
  async fetchSnapshot(profileToken: string, timeoutMs: number): Promise<Buffer> {
    if (!this.device.changeProfile(profileToken)) throw new Error(`the device has no profile "${profileToken}"`);
    const fetching = this.device.fetchSnapshot();
    // node-onvif gives no way to abort its request: past the time limit its late outcome has already
    // been reported as a timeout, so it is dropped here rather than left as an unhandled rejection.
    fetching.catch(() => undefined);
    const { body } = await withTimeout(fetching, timeoutMs, `snapshot of profile "${profileToken}"`);
    return body;
  }
}

function toProfile(p: NodeOnvifProfile): OnvifProfile {
  const encoder = p.video.encoder;
  const number = (n: number | undefined): number | null => (n !== undefined && Number.isFinite(n) ? n : null);
  return {
    token: p.token,
    name: p.name,
    width: number(encoder?.resolution.width),
    height: number(encoder?.resolution.height),
    fps: number(encoder?.framerate),
    codec: encoder?.encoding ?? null,
    rtspUri: p.stream.rtsp || null,
    snapshotUri: p.snapshot || null,
  };
}

function explainInitFailure(err: Error, xaddr: string): string {
  const where = redactUrl(xaddr);
  const why = redactUrl(err.message);
  if (/NotAuthorized|Sender not Authorized|401/i.test(why)) {
    return `ONVIF device ${where} refused the username or password (${why}); check camera.onvif.username/password and that the camera's clock is roughly right (WS-Security digests carry a timestamp)`;
  }
  if (/Network Error|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|socket hang up|no answer/i.test(why)) {
    return `ONVIF device ${where} is not reachable (${why}); check the address and that ONVIF is enabled on the camera`;
  }
  return `ONVIF device ${where} could not be read: ${why}`;
}

/**
 * The profile a setting names (by token, else by name); without one, the main stream defaults to the
 * largest H.264/H.265 profile.
 */
export function chooseProfile(profiles: readonly OnvifProfile[], wanted: string | undefined, role: 'main' | 'sub'): OnvifProfile {
  const listed = profiles.map((p) => `"${p.token}" (${p.name})`).join(', ') || 'none';
  if (wanted !== undefined) {
    const found = profiles.find((p) => p.token === wanted) ?? profiles.find((p) => p.name === wanted);
    if (!found) throw new Error(`camera.onvif.${role}Profile "${wanted}" is not a profile of this camera; it has ${listed}`);
    if (!found.rtspUri) throw new Error(`ONVIF profile "${wanted}" has no RTSP stream URI`);
    return found;
  }
  const candidates = profiles.filter((p) => p.rtspUri && (p.codec === null || /^H26[45]$/i.test(p.codec)));
  const area = (p: OnvifProfile): number => (p.width ?? 0) * (p.height ?? 0);
  const best = candidates.reduce<OnvifProfile | null>((a, p) => (a === null || area(p) > area(a) ? p : a), null);
  if (!best) throw new Error(`no ONVIF profile of this camera offers an H.264/H.265 RTSP stream; it has ${listed}`);
  return best;
}

/** Puts the ONVIF login into a stream URI that has none (cameras ask RTSP clients for the same account). */
export function withCredentials(uri: string, username: string, password: string): string {
  if (!username) return uri;
  const url = new URL(uri);
  if (url.username) return uri;
  // Encoded here: the setters leave `%` as is, and ffmpeg percent-decodes the login it sends.
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}
