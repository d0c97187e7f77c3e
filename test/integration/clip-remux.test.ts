/**
 * The in-process join (ts-to-mp4.ts) against ffmpeg's own: segments cut the way the pre-roll ffmpeg
 * cuts them, from H.264 of several kinds (1080p High with cropping, B-frames, the synthetic camera's
 * ultrafast encode, scaling matrices, 4:2:2), joined into MP4 by the agent and by a bare
 * `ffmpeg -i concat:`; ffmpeg must decode the same pictures at the same times from both. What the
 * agent does not remux itself (HEVC, a damaged segment) still becomes a clip, through ffmpeg.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegTools, h264Encode, locateFfmpeg } from '../../agent/capture/index.js';
import { NotRemuxable } from '../../agent/capture/mpegts.js';
import { SegmentRemuxer } from '../../agent/capture/ts-to-mp4.js';
import { createLogger } from '../../agent/log.js';
import { LogLines } from '../fixtures/camera/clip-sink.js';

let dir: string;
let tools: FfmpegTools;
const logs = new LogLines();

const ffmpeg = (args: string[]): string =>
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8', timeout: 60_000 });

function ffprobe(args: string[]): string {
  return execFileSync('ffprobe', ['-v', 'error', ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** Segments as the pre-roll ring writes them: MPEG-TS cut at keyframes, timestamps continuous. */
function segment(name: string, input: string[], video: string[]): string[] {
  const folder = join(dir, name);
  mkdirSync(folder);
  ffmpeg([...input, '-map', '0:v:0', ...video, '-f', 'segment', '-segment_time', '1', '-segment_format', 'mpegts', '-reset_timestamps', '0',
    join(folder, 's%09d.ts')]);
  return readdirSync(folder).sort().map((f) => join(folder, f));
}

const scene = (size: string, fps: number, seconds: number): string[] => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`, '-t', String(seconds)];

/** Each decoded picture's hash, in the order ffmpeg shows them. */
const pictures = (file: string): string[] =>
  ffmpeg(['-i', file, '-map', '0:v:0', '-f', 'framemd5', '-']).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').at(-1)!.trim());

/** Each shown picture's time in ms, as the demuxer gives it (edit lists applied). */
const times = (file: string): number[] =>
  ffprobe(['-select_streams', 'v:0', '-show_entries', 'frame=best_effort_timestamp_time', '-of', 'csv=p=0', file])
    .trim().split('\n').map((t) => Math.round(Number(t) * 1000));

function stream(file: string): Record<string, string> {
  const out = ffprobe(['-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=codec_name,profile,width,height,pix_fmt,nb_frames,nb_read_packets', '-of', 'json', file]);
  return (JSON.parse(out) as { streams: Record<string, string>[] }).streams[0]!;
}

function keyframes(file: string): number {
  return ffprobe(['-select_streams', 'v:0', '-show_entries', 'packet=flags', '-of', 'csv=p=0', file]).split('\n').filter((f) => f.startsWith('K')).length;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clip-remux-'));
  tools = new FfmpegTools(await locateFfmpeg(), createLogger({ level: 'debug', sink: logs }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const H264_KINDS: { name: string; make: () => string[]; size: [number, number]; profile: string }[] = [
  {
    name: 'a camera main stream: 1080p High, 2 s GOP, no B-frames (1080 lines are coded as 1088 and cropped)',
    make: () => {
      const source = join(dir, 'main.mp4');
      ffmpeg([...scene('1920x1080', 15, 9), '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '4000k', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p', source]);
      return segment('main', ['-i', source], ['-c', 'copy']);
    },
    size: [1920, 1080],
    profile: 'High',
  },
  {
    name: 'B-frames in a pyramid (shown in another order than decoded)',
    make: () => segment('bframes', scene('640x360', 25, 6), ['-c:v', 'libx264', '-preset', 'medium', '-bf', '3', '-g', '50', '-pix_fmt', 'yuv420p']),
    size: [640, 360],
    profile: 'High',
  },
  {
    name: "the synthetic camera's own encode (ultrafast, a keyframe per segment)",
    make: () => segment('synthetic', scene('1280x720', 15, 6), h264Encode(15, 1)),
    size: [1280, 720],
    profile: 'Constrained Baseline',
  },
  {
    name: 'quantisation matrices in the sequence parameter set',
    make: () => segment('cqm', scene('320x240', 15, 4), ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '15', '-x264-params', 'cqm=jvt', '-pix_fmt', 'yuv420p']),
    size: [320, 240],
    profile: 'High',
  },
  {
    name: 'High 4:2:2 with an odd size',
    make: () => segment('422', scene('318x238', 10, 5), ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '10', '-pix_fmt', 'yuv422p']),
    size: [318, 238],
    profile: 'High 4:2:2',
  },
];

describe('the in-process join of H.264 segments', () => {
  // One for every kind, largest pictures first, as a camera's FfmpegTools keeps one: what an earlier
  // clip left in its buffers must not reach a later one.
  const remuxer = new SegmentRemuxer();
  for (const kind of H264_KINDS) {
    it(`gives the pictures and times ffmpeg's join gives: ${kind.name}`, async () => {
      const segments = kind.make();
      expect(segments.length).toBeGreaterThanOrEqual(3);
      const ours = join(dir, `${segments[0]!.split('/').at(-2)}-ours.mp4`);
      const theirs = join(dir, `${segments[0]!.split('/').at(-2)}-ffmpeg.mp4`);
      const result = await remuxer.remux(segments, ours);
      ffmpeg(['-i', `concat:${segments.join('|')}`, '-map', '0:v:0', '-c', 'copy', '-movflags', '+faststart', theirs]);

      const probed = stream(ours);
      expect(probed).toMatchObject({ codec_name: 'h264', profile: kind.profile, width: kind.size[0], height: kind.size[1] });
      expect(stream(theirs)).toMatchObject({ ...probed, nb_frames: expect.any(String) as unknown });
      expect(Number(probed.nb_frames)).toBe(result.frames);
      expect(Number(probed.nb_read_packets)).toBe(result.frames);
      expect(result.frames).toBe(Number(stream(theirs).nb_read_packets));
      expect(pictures(ours)).toEqual(pictures(theirs));
      expect(times(ours)).toEqual(times(theirs));
      expect(keyframes(ours)).toBe(keyframes(theirs));
      const duration = Number(ffprobe(['-show_entries', 'format=duration', '-of', 'csv=p=0', ours]));
      expect(duration).toBeCloseTo(result.seconds, 2);
      // Faststart: the index before the samples.
      const bytes = readFileSync(ours);
      expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
    });
  }

  it('finds the keyframe a thumbnail is made from, anywhere in the clip', async () => {
    const segments = segment('thumb', scene('640x360', 15, 8), h264Encode(15, 2));
    const out = join(dir, 'thumb.mp4');
    await tools.joinSegments(segments, out);
    for (const offset of [0, 3, 7]) {
      const jpeg = await tools.extractThumbnail(out, offset);
      expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }
  });

  it('gives two joins at once the same bytes as one at a time', async () => {
    const big = segment('both-big', scene('1280x720', 15, 4), h264Encode(15, 1));
    const small = segment('both-small', scene('320x240', 15, 4), h264Encode(15, 1));
    const remuxer = new SegmentRemuxer();
    const alone = [join(dir, 'big-alone.mp4'), join(dir, 'small-alone.mp4')];
    await new SegmentRemuxer().remux(big, alone[0]!);
    await new SegmentRemuxer().remux(small, alone[1]!);
    const together = [join(dir, 'big-together.mp4'), join(dir, 'small-together.mp4')];
    await Promise.all([remuxer.remux(big, together[0]!), remuxer.remux(small, together[1]!)]);
    expect(readFileSync(together[0]!).equals(readFileSync(alone[0]!))).toBe(true);
    expect(readFileSync(together[1]!).equals(readFileSync(alone[1]!))).toBe(true);
  });

  it('gives up at its time limit with an error that is not a fallback to ffmpeg', async () => {
    const segments = segment('late', scene('320x240', 15, 3), h264Encode(15, 1));
    const failure = await new SegmentRemuxer().remux(segments, join(dir, 'late.mp4'), Date.now()).catch((err: Error) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(NotRemuxable);
    await expect(tools.joinSegments(segments, join(dir, 'late2.mp4'), { timeoutMs: 0 })).rejects.toThrow(/time limit/);
  });
});

describe('segments the agent does not remux itself', () => {
  it('are joined by ffmpeg: HEVC', async () => {
    const segments = segment('hevc', scene('640x360', 15, 4), ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error:keyint=15']);
    await expect(new SegmentRemuxer().remux(segments, join(dir, 'hevc-ours.mp4'))).rejects.toBeInstanceOf(NotRemuxable);
    const mark = logs.lines.length;
    const out = join(dir, 'hevc.mp4');
    const result = await tools.joinSegments(segments, out);
    expect(stream(out)).toMatchObject({ codec_name: 'hevc', width: 640, height: 360 });
    expect(result.frames).toBe(60);
    expect(logs.lines.slice(mark).some((l) => l.includes('ffmpeg joins this clip') && l.includes('no H.264 stream'))).toBe(true);
  });

  it('are joined by ffmpeg: a segment cut short by a crash mid-write', async () => {
    const segments = segment('cut', scene('640x360', 15, 4), h264Encode(15, 1));
    const last = segments.at(-1)!;
    const bytes = readFileSync(last);
    execFileSync('truncate', ['-s', String(bytes.length - 100), last]);
    await expect(new SegmentRemuxer().remux(segments, join(dir, 'cut-ours.mp4'))).rejects.toBeInstanceOf(NotRemuxable);
    const result = await tools.joinSegments(segments, join(dir, 'cut.mp4'));
    expect(result.frames).toBeGreaterThanOrEqual(45);
  });
});
