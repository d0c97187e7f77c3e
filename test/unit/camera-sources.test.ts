/** The camera sources' command lines, choices and redaction, and the camera section of the config. */
import { describe, expect, it } from 'vitest';
import {
  chooseH264Encoder,
  chooseV4l2Input,
  createSource,
  h264EncoderArgs,
  libcameraInputArgs,
  framesPerWrite,
  motionOutputArgs,
  parseEncoderList,
  parseV4l2Formats,
  redactSecrets,
  rpicamVidArgs,
  RtspSource,
  urlSecrets,
  v4l2InputArgs,
} from '../../agent/capture/index.js';
import { ConfigError, parseConfig, type ConfigInput } from '../../agent/config.js';

/** `ffmpeg -f v4l2 -list_formats all -i /dev/video0` with a Logitech C920-like camera (H.264, MJPEG, YUYV). */
const C920 = `[video4linux2,v4l2 @ 0x55d1c3a4e440] Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 160x90 160x120 176x144 320x180 320x240 352x288 432x240 640x360 800x448 800x600 864x480 960x720 1024x576 1280x720 1600x896 1920x1080 2304x1296 2304x1536
[video4linux2,v4l2 @ 0x55d1c3a4e440] Compressed:        h264 :                H.264 : 640x480 160x90 160x120 176x144 320x180 320x240 352x288 432x240 640x360 800x448 800x600 864x480 960x720 1024x576 1280x720 1600x896 1920x1080
[video4linux2,v4l2 @ 0x55d1c3a4e440] Compressed:       mjpeg :          Motion-JPEG : 640x480 160x90 160x120 176x144 320x180 320x240 352x288 432x240 640x360 800x448 800x600 864x480 960x720 1024x576 1280x720 1600x896 1920x1080
/dev/video0: Immediate exit requested
`;
/** A cheap webcam: MJPEG at every size, YUYV only small. */
const CHEAP = `[video4linux2,v4l2 @ 0x5581] Compressed:       mjpeg :          Motion-JPEG : 1280x720 640x480
[video4linux2,v4l2 @ 0x5581] Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480
`;
/** A stepwise-sized device (bcm2835 ISP style). */
const STEPWISE = `[video4linux2,v4l2 @ 0x5581] Raw       :     yuyv422 :           YUYV 4:2:2 : {32-4056, 2}x{32-3040, 2}
`;

describe('rtsp', () => {
  const source = new RtspSource({ url: 'rtsp://admin:p%40ss@cam.lan:554/Streaming/101', transport: 'tcp', connectTimeoutSeconds: 7 });

  it('reads over TCP with a socket timeout in microseconds, and copies the video', () => {
    expect(source.inputArgs()).toEqual(['-rtsp_transport', 'tcp', '-allowed_media_types', 'video', '-timeout', '7000000', '-i', 'rtsp://admin:p%40ss@cam.lan:554/Streaming/101']);
    expect(source.videoArgs()).toEqual(['-c:v', 'copy']);
    expect(source.hasMotionStream).toBe(false);
  });

  it('keeps the password out of describe() and out of any text it redacts, in every spelling', () => {
    expect(source.describe()).toBe('rtsp rtsp://***@cam.lan:554/Streaming/101 over TCP');
    const stderr = 'rtsp://admin:p%40ss@cam.lan:554/Streaming/101: 401 Unauthorized (login admin / p@ss, p%40ss)';
    const redacted = source.redact(stderr);
    expect(redacted).not.toMatch(/p@ss|p%40ss/);
    expect(redacted).toContain('cam.lan:554/Streaming/101');
  });

  it('finds a password with a raw @ whole, as ffmpeg does', () => {
    expect(urlSecrets('rtsp://admin:p@ss@cam/x')).toEqual(['p@ss', 'p%40ss']);
    expect(urlSecrets('rtsp://cam/x')).toEqual([]);
    expect(redactSecrets('rtsp://admin:p@ss@cam/x failed', urlSecrets('rtsp://admin:p@ss@cam/x'))).toBe('rtsp://***@cam/x failed');
  });

  it('reads motion from the sub-stream when there is one', () => {
    const withSub = new RtspSource({ url: 'rtsp://cam/main', subUrl: 'rtsp://u:secret@cam/sub', transport: 'tcp', connectTimeoutSeconds: 5 });
    expect(withSub.hasMotionStream).toBe(true);
    expect(withSub.motionInputArgs().at(-1)).toBe('rtsp://u:secret@cam/sub');
    expect(withSub.describe()).not.toContain('secret');
  });
});

describe('v4l2', () => {
  it('parses the formats a device lists, with their sizes', () => {
    const formats = parseV4l2Formats(C920);
    expect(formats.map((f) => f.name)).toEqual(['yuyv422', 'h264', 'mjpeg']);
    expect(formats[1]).toMatchObject({ compressed: true, description: 'H.264' });
    expect(formats[1]!.sizes).toContainEqual({ width: 1920, height: 1080 });
    expect(parseV4l2Formats(STEPWISE)[0]!.sizes).toBeNull();
  });

  it('prefers H.264 (copied), then MJPEG, then YUYV, at the wanted size', () => {
    const want = { device: '/dev/video0', width: 1280, height: 720 };
    expect(chooseV4l2Input(parseV4l2Formats(C920), want)).toBe('h264');
    expect(chooseV4l2Input(parseV4l2Formats(C920), { ...want, width: 2304, height: 1296 })).toBe('yuyv422');
    expect(chooseV4l2Input(parseV4l2Formats(CHEAP), want)).toBe('mjpeg');
    expect(chooseV4l2Input(parseV4l2Formats(STEPWISE), want)).toBe('yuyv422');
  });

  it('takes the configured format, and explains what the device offers when it cannot', () => {
    const want = { device: '/dev/video0', width: 1280, height: 720 };
    expect(chooseV4l2Input(parseV4l2Formats(C920), { ...want, inputFormat: 'mjpeg' })).toBe('mjpeg');
    expect(() => chooseV4l2Input(parseV4l2Formats(CHEAP), { ...want, inputFormat: 'h264' })).toThrow(/does not offer camera.v4l2.inputFormat "h264"; it offers mjpeg \(1280x720 640x480\)/);
    expect(() => chooseV4l2Input(parseV4l2Formats(CHEAP), { ...want, width: 1920, height: 1080 })).toThrow(/offers no H.264, MJPEG or YUYV video at 1920x1080/);
  });

  it('builds the input arguments', () => {
    expect(v4l2InputArgs('/dev/video2', 'mjpeg', 1280, 720, 15)).toEqual([
      '-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '15', '-i', '/dev/video2',
    ]);
  });

  it('encodes with h264_v4l2m2m only when ffmpeg lists it and a trial encode worked', () => {
    const listed = parseEncoderList(` V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC (codec h264)
 V..... h264_v4l2m2m         V4L2 mem2mem H.264 encoder wrapper (codec h264)
 V..... = Video
`);
    expect(listed.has('h264_v4l2m2m')).toBe(true);
    expect(listed.has('=')).toBe(false);
    expect(chooseH264Encoder(listed, true)).toBe('h264_v4l2m2m');
    expect(chooseH264Encoder(listed, false)).toBe('libx264');
    expect(chooseH264Encoder(new Set(['libx264']), true)).toBe('libx264');
  });

  it('puts a keyframe at every segment boundary with either encoder', () => {
    const o = { width: 1280, height: 720, fps: 15, segmentSeconds: 1 };
    expect(h264EncoderArgs('h264_v4l2m2m', o)).toEqual(['-c:v', 'h264_v4l2m2m', '-pix_fmt', 'yuv420p', '-b:v', '1382400', '-g', '15']);
    const x264 = h264EncoderArgs('libx264', o);
    expect(x264).toEqual(expect.arrayContaining(['libx264', 'ultrafast']));
    expect(x264[x264.indexOf('-g') + 1]).toBe('15');
  });
});

describe('libcamera', () => {
  it('runs rpicam-vid with inline headers, flushing, and a keyframe per segment, writing to stdout', () => {
    expect(rpicamVidArgs({ width: 1280, height: 720, fps: 15, segmentSeconds: 2, extraArgs: ['--hflip'] })).toEqual([
      '-t', '0', '--nopreview', '--codec', 'h264', '--inline', '--flush',
      '--width', '1280', '--height', '720', '--framerate', '15', '--intra', '30', '--hflip', '-o', '-',
    ]);
  });

  it('reads the elementary stream from stdin at the camera frame rate', () => {
    const args = libcameraInputArgs(15);
    expect(args.slice(0, 4)).toEqual(['-f', 'h264', '-framerate', '15']);
    expect(args.slice(-2)).toEqual(['-i', 'pipe:0']);
  });
});

describe('the motion branch', () => {
  it('writes small grey frames of the first video stream to stdout, a second of them at a time', () => {
    expect(motionOutputArgs({ width: 160, height: 90, fps: 5 })).toEqual([
      '-map', '0:v:0', '-vf', 'fps=5,scale=160:90:flags=area,format=gray,tile=1x5', '-avioflags', 'direct', '-f', 'rawvideo', 'pipe:1',
    ]);
  });

  it('writes fewer frames at a time when a second of them would not arrive in one piece', () => {
    expect(framesPerWrite({ width: 320, height: 180, fps: 10 })).toBe(3);
    expect(motionOutputArgs({ width: 640, height: 480, fps: 15 })[3]).toBe('fps=15,scale=640:480:flags=area,format=gray');
  });
});

describe('the camera section of the config', () => {
  const problems = (camera: ConfigInput['camera']): string[] => {
    try {
      parseConfig({ camera });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('builds the configured source', () => {
    const kinds = (['synthetic', 'v4l2', 'libcamera'] as const).map((source) => createSource(parseConfig({ camera: { source } })).kind);
    expect(kinds).toEqual(['synthetic', 'v4l2', 'libcamera']);
    expect(createSource(parseConfig({ camera: { source: 'rtsp', rtsp: { url: 'rtsp://cam/1' } } })).kind).toBe('rtsp');
    expect(createSource(parseConfig({ camera: { source: 'onvif', onvif: { address: '192.168.1.30' } } })).kind).toBe('onvif');
  });

  it('has defaults for every source and for motion (off)', () => {
    const { camera } = parseConfig({});
    expect(camera).toMatchObject({ source: 'synthetic', connectTimeoutSeconds: 10, v4l2: { device: '/dev/video0' }, libcamera: { extraArgs: [] } });
    expect(camera.motion).toEqual({
      enabled: false, width: 160, height: 90, fps: 5, pixelThreshold: 25, minAreaPercent: 1, consecutiveFrames: 3, backgroundAlpha: 0.05, zones: [], rearmSeconds: 10,
    });
    expect(parseConfig({ camera: { source: 'rtsp', rtsp: { url: 'rtsp://cam/1' } } }).camera.rtsp!.transport).toBe('tcp');
  });

  it('says what a source is missing', () => {
    expect(problems({ source: 'rtsp' })).toEqual(['camera.rtsp.url: expected camera.rtsp.url when camera.source is rtsp']);
    expect(problems({ source: 'onvif' })).toEqual(['camera.onvif: expected camera.onvif.xaddr or .address when camera.source is onvif']);
    expect(problems({ source: 'onvif', onvif: { xaddr: 'http://cam/onvif/device_service', address: 'cam' } })).toEqual([
      'camera.onvif: expected exactly one of xaddr and address',
    ]);
    expect(problems({ source: 'rtsp', rtsp: { url: 'http://cam/1' } })).toEqual(['camera.rtsp.url: expected an rtsp:// or rtsps:// URL']);
  });

  it('checks motion zones and bounds', () => {
    const zone = { kind: 'exclude' as const, points: [[0, 0], [1.5, 0], [1, 1]] as [number, number][] };
    expect(problems({ motion: { zones: [zone] } })[0]).toMatch(/^camera\.motion\.zones\.0\.points\.1\.0: /);
    expect(problems({ motion: { zones: [{ kind: 'include', points: [[0, 0], [1, 1]] }] } })[0]).toMatch(/^camera\.motion\.zones\.0\.points: /);
    expect(problems({ motion: { pixelThreshold: 0, nope: 1 } as never })).toEqual(
      expect.arrayContaining(['camera.motion.nope: unknown key', expect.stringMatching(/^camera\.motion\.pixelThreshold: /)]),
    );
  });
});
