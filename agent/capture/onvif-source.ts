/**
 * An ONVIF camera: its main (and optional sub) profile's RTSP URI is resolved through ONVIF before the
 * first ffmpeg starts, then it records exactly like an RTSP camera. A camera that is not answering
 * yet makes prepare() fail, which the pre-roll ring retries with backoff.
 */
import type { Logger } from '../log.js';
import type { FfmpegTools } from './ffmpeg.js';
import { chooseProfile, deviceServiceUrl, OnvifCamera, withCredentials } from './onvif.js';
import { redactSecrets, RtspSource } from './rtsp.js';
import type { CameraSource } from './sources.js';

export interface OnvifSourceOptions {
  xaddr?: string;
  address?: string;
  username: string;
  password: string;
  mainProfile?: string;
  subProfile?: string;
  connectTimeoutSeconds: number;
}

export class OnvifSource implements CameraSource {
  readonly kind = 'onvif';
  readonly hasMotionStream: boolean;
  private rtsp: RtspSource | null = null;
  private resolving: Promise<void> | null = null;
  private profileNames = '';

  constructor(private readonly options: OnvifSourceOptions) {
    this.hasMotionStream = options.subProfile !== undefined;
  }

  private get xaddr(): string {
    const { xaddr, address } = this.options;
    if (xaddr) return xaddr;
    if (address) return deviceServiceUrl(address);
    throw new Error('camera.onvif needs xaddr or address');
  }

  describe(): string {
    const device = `onvif ${this.redact(this.xaddr)}`;
    return this.rtsp ? `${device} ${this.profileNames}: ${this.rtsp.describe()}` : `${device} (stream not resolved yet)`;
  }

  redact(text: string): string {
    const own = this.options.password ? [this.options.password, encodeURIComponent(this.options.password)] : [];
    return this.rtsp ? this.rtsp.redact(redactSecrets(text, own)) : redactSecrets(text, own);
  }

  /** Resolves the stream URIs once; the pre-roll ring and the motion sub-stream reader may ask at the same time. */
  prepare(_tools: FfmpegTools, log: Logger): Promise<void> {
    if (this.rtsp) return Promise.resolve();
    this.resolving ??= this.resolve(log).finally(() => (this.resolving = null));
    return this.resolving;
  }

  private async resolve(log: Logger): Promise<void> {
    const { username, password, mainProfile, subProfile, connectTimeoutSeconds } = this.options;
    const camera = await OnvifCamera.connect({ xaddr: this.xaddr, username, password, timeoutMs: connectTimeoutSeconds * 1000 });
    const main = chooseProfile(camera.profiles, mainProfile, 'main');
    const sub = subProfile === undefined ? null : chooseProfile(camera.profiles, subProfile, 'sub');
    this.rtsp = new RtspSource({
      url: withCredentials(main.rtspUri!, username, password),
      subUrl: sub ? withCredentials(sub.rtspUri!, username, password) : undefined,
      transport: 'tcp',
      connectTimeoutSeconds,
    });
    this.profileNames = sub ? `profiles "${main.name}" + "${sub.name}"` : `profile "${main.name}"`;
    const { manufacturer, model, firmware } = camera.info;
    log.info('ONVIF camera resolved', {
      device: [manufacturer, model, firmware].filter(Boolean).join(' '),
      main: { token: main.token, name: main.name, size: `${main.width}x${main.height}`, codec: main.codec },
      sub: sub ? { token: sub.token, name: sub.name, size: `${sub.width}x${sub.height}`, codec: sub.codec } : null,
      source: this.describe(),
    });
  }

  inputArgs(): string[] {
    return this.resolved().inputArgs();
  }

  videoArgs(): string[] {
    return this.resolved().videoArgs();
  }

  motionInputArgs(): string[] {
    return this.resolved().motionInputArgs();
  }

  private resolved(): RtspSource {
    if (!this.rtsp) throw new Error('the ONVIF stream URI is not resolved yet (prepare() first)');
    return this.rtsp;
  }
}
