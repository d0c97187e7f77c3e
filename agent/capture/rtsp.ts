/**
 * An RTSP camera: the main stream copied as it comes (never re-encoded), over TCP by default, since
 * RTP over UDP loses packets on Wi-Fi and every lost packet is a smeared frame in the evidence. The
 * credentials in the URL are needed on ffmpeg's command line and nowhere else: describe() and
 * redact() keep them out of logs and the state.
 */
import { redactUrl } from '../log.js';
import type { CameraSource } from './sources.js';

export interface RtspOptions {
  url: string;
  /** The camera's low-resolution stream, read for motion detection only. */
  subUrl?: string;
  transport: 'tcp' | 'udp';
  connectTimeoutSeconds: number;
}

/**
 * The password of a scheme://user:password@host URL as written, decoded and re-encoded; none when the
 * URL has none. Like ffmpeg, the user part runs to the last `@` before the path, so a password with a
 * raw `@` in it is still found whole.
 */
export function urlSecrets(url: string): string[] {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)/i.exec(url)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const raw = colon < 0 ? '' : userinfo.slice(colon + 1);
  if (!raw) return [];
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // Not valid percent-encoding: ffmpeg uses it as written, and so does the redaction.
  }
  return [...new Set([raw, decoded, encodeURIComponent(decoded)])];
}

/** Blanks every copy of the given secrets (longest first), then URL credentials and query strings. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret) out = out.split(secret).join('***');
  }
  return redactUrl(out);
}

/**
 * Input arguments for one RTSP stream. `-timeout` (µs) bounds the connect and every read in ffmpeg
 * 5.1's demuxer. Only the video track is set up: audio is never recorded, so the camera is not asked
 * to send it (a doorbell camera's microphone stays off the LAN and out of ffmpeg).
 */
export function rtspInputArgs(url: string, transport: 'tcp' | 'udp', connectTimeoutSeconds: number): string[] {
  const timeout = String(Math.round(connectTimeoutSeconds * 1_000_000));
  return ['-rtsp_transport', transport, '-allowed_media_types', 'video', '-timeout', timeout, '-i', url];
}

export class RtspSource implements CameraSource {
  readonly kind = 'rtsp';
  readonly hasMotionStream: boolean;
  private readonly secrets: string[];

  constructor(private readonly options: RtspOptions) {
    this.hasMotionStream = options.subUrl !== undefined;
    this.secrets = [...urlSecrets(options.url), ...(options.subUrl ? urlSecrets(options.subUrl) : [])];
  }

  describe(): string {
    const sub = this.options.subUrl ? ` (motion from ${this.redact(this.options.subUrl)})` : '';
    return `rtsp ${this.redact(this.options.url)} over ${this.options.transport.toUpperCase()}${sub}`;
  }

  redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  inputArgs(): string[] {
    const { url, transport, connectTimeoutSeconds } = this.options;
    return rtspInputArgs(url, transport, connectTimeoutSeconds);
  }

  videoArgs(): string[] {
    return ['-c:v', 'copy'];
  }

  motionInputArgs(): string[] {
    const { subUrl, transport, connectTimeoutSeconds } = this.options;
    if (!subUrl) throw new Error('camera.rtsp.subUrl is not set: motion reads a branch of the main stream');
    return rtspInputArgs(subUrl, transport, connectTimeoutSeconds);
  }
}
