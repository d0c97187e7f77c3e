/**
 * A loopback RTSP camera for the recording benchmark: GStreamer's gst-rtsp-server (Debian's
 * python3-gi and gir1.2-gst-rtsp-server-1.0) serving pre-encoded H.264 files in real time (a 1080p
 * main stream at /cam and, like a real camera, a sub-stream of the same scene at /sub), so the
 * server itself costs almost nothing and every recorder sees the same bytes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './harness/ports.js';

const PYTHON = '/usr/bin/python3';

const SERVER_PY = `
import sys, gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
port = sys.argv[1]
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(port)
for i in range(2, len(sys.argv), 2):
    path, mount = sys.argv[i], sys.argv[i + 1]
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch('( filesrc location="%s" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )' % path)
    factory.set_shared(True)
    server.get_mount_points().add_factory(mount, factory)
server.attach(None)
print('ready', flush=True)
GLib.MainLoop().run()
`;

export interface StreamSpec {
  width: number;
  height: number;
  fps: number;
  /** Encoder bitrate: a doorbell camera's main stream is typically 2–6 Mbit/s at 1080p. */
  kbps: number;
  seconds: number;
  /** Keyframe interval (1 s unless given; doorbell cameras often use 2 s). */
  gopSeconds?: number;
}

/** Why the RTSP server cannot run here, or null when it can. */
export function rtspServerUnavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) {
    return 'gst-rtsp-server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)';
  }
  return null;
}

/** Encodes the test stream once per spec and keeps it in the temp folder for later runs; a longer one of the same spec will do. */
export function streamFile(spec: StreamSpec): string {
  const { width, height, fps, kbps, seconds } = spec;
  const gopSeconds = spec.gopSeconds ?? 1;
  const gopTag = gopSeconds === 1 ? '' : `-gop${gopSeconds}`;
  const name = (s: number): string => `doorbell-bench-${width}x${height}-${fps}fps-${kbps}k-${s}s${gopTag}-nobf.mp4`;
  const file = join(tmpdir(), name(seconds));
  if (existsSync(file)) return file;
  const longer = readdirSync(tmpdir())
    .map((f) => ({ f, s: Number(/-(\d+)s(?:-gop\d+)?-nobf\.mp4$/.exec(f)?.[1]) }))
    .find(({ f, s }) => s >= seconds && f === name(s));
  if (longer) return join(tmpdir(), longer.f);
  const gop = String(fps * gopSeconds);
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`, '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${2 * kbps}k`,
    // No B-frames, as doorbell cameras stream: over RTP, B-frames leave ffmpeg without DTS for the first packets.
    '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-bf', '0', '-pix_fmt', 'yuv420p', `${file}.part.mp4`,
  ];
  const result = spawnSync('ffmpeg', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`encoding the benchmark stream failed: ${result.stderr}`);
  spawnSync('mv', [`${file}.part.mp4`, file]);
  return file;
}

export class RtspServer {
  private child: ChildProcess | null = null;
  url = '';
  private port = 0;

  /** `file` is served at /cam; `subFile`, when given, at /sub (urlOf('/sub')). */
  constructor(
    private readonly file: string,
    private readonly subFile?: string,
  ) {}

  urlOf(mount: '/cam' | '/sub'): string {
    return `rtsp://127.0.0.1:${this.port}${mount}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** `port` brings a restarted server back where the camera was. */
  async start(port?: number): Promise<void> {
    port ??= await freePort();
    const mounts = [this.file, '/cam', ...(this.subFile ? [this.subFile, '/sub'] : [])];
    const child = spawn(PYTHON, ['-c', SERVER_PY, String(port), ...mounts], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the RTSP server exited (${code}): ${stderr}`)));
    });
    this.port = port;
    this.url = this.urlOf('/cam');
    await sleep(200);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
