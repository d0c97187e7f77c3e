/**
 * Video motion as the owner lives it: a whole agent on a camera (a fake rpicam-vid playing a scripted
 * scene) where a box moves in front of the door for a while, leaves, and comes back. The real
 * detector reads the frames; what is checked is what comes out: the clips, the owner's events and
 * Home Assistant's plaintext events. Someone moving for longer than post-roll + rearm stays in the
 * clip until they stop, announced once; motion after a quiet spell longer than rearm is announced
 * again; a clip capped at maxClipSeconds is followed by one that starts where it ended, with its
 * own event. Home Assistant's motion sensor stays on while the motion lasts.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../agent/events.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { homeAssistantLogin } from '../helpers/owner.js';
import { sleep } from '../helpers/wait.js';

const FAKE = new URL('../fixtures/camera/fake-rpicam-vid.sh', import.meta.url).pathname;
const POST_ROLL_S = 2;
const REARM_S = 3;
/** The last continuing report may come this long before motion stops (1 s rate, a frame, scheduling). */
const REPORT_SLACK_MS = 1_500;
/** Home Assistant's motion sensor off delay in the first case: it must hear of motion at least this often. */
const OFF_DELAY_S = 4;

/**
 * A grey porch with sensor noise and, while `moving` (scene seconds, lavfi's between()), a light box
 * (about 3 % of the frame) sweeping back and forth at 200 px/s; it is gone the rest of the time.
 */
function scene(moving: [number, number][]): string {
  const enable = moving.map(([from, to]) => `between(t,${from},${to})`).join('+');
  return (
    'color=c=0x606060:s=320x240:r=10[bg];color=c=0xd0d0d0:s=40x60:r=10[box];' +
    `[bg][box]overlay=x='20+abs(mod(t*200,480)-240)':y=90:enable='${enable}',noise=alls=12:allf=t+u[out0]`
  );
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'motion-clips-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE, join(bin, 'rpicam-vid'));
  process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ''}`;
  process.env.FAKE_RPICAM_ARGS = join(dir, 'rpicam-args.txt');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  /** Wall-clock time before the camera started: the scene's second s is shown at startedBefore + s or later. */
  startedBefore: number;
  clips: ClipRecord[];
  events: { trigger: Trigger; clipId: string }[];
  plaintext: Record<string, unknown>[];
}

/** Runs an agent on the scene until `seconds` after its start, then stops it (which writes open clips). */
async function watch(moving: [number, number][], seconds: number, maxClipSeconds = 120, motionOffDelaySeconds = 30): Promise<Run> {
  process.env.FAKE_RPICAM_SCENE = scene(moving);
  const startedBefore = Date.now();
  const events: Run['events'] = [];
  let agent: TestAgent | undefined;
  let broker: Recorder | undefined;
  try {
    agent = await startTestAgent(
      {
        camera: { source: 'libcamera', libcamera: { width: 320, height: 240, fps: 10 }, motion: { enabled: true, rearmSeconds: REARM_S } },
        record: { preRollSeconds: 1, postRollSeconds: POST_ROLL_S, maxClipSeconds },
        homeassistant: { motionOffDelaySeconds },
      },
      { dir: mkdtempSync(join(dir, 'agent-')) },
    );
    agent.agent.on('trigger', (e) => events.push(e));
    broker = await Recorder.connect(agent.brokerUrl, [topicsFor(agent.config.mqtt.prefix, agent.config.device.id).event], homeAssistantLogin(agent));
    await sleep(startedBefore + seconds * 1000 - Date.now());
    await agent.stop();
    const plaintext = broker.messages.map((m) => broker!.json(m));
    return { startedBefore, clips: [...agent.clips].sort((a, b) => a.start - b.start), events, plaintext };
  } finally {
    await broker?.close();
    await agent?.dispose();
  }
}

describe('video motion makes clips that last as long as the motion', () => {
  it('keeps one clip open while someone keeps moving, announces it once, and announces motion again after a quiet spell', async () => {
    // Moving for 10 s (more than post-roll + rearm), quiet for 8 s, moving again for 3 s; Home
    // Assistant's motion sensor turns off 4 s after the last motion it heard of.
    const { startedBefore, clips, events, plaintext } = await watch([[2, 12], [20, 23]], 30, 120, OFF_DELAY_S);

    expect(clips).toHaveLength(2);
    const [first, second] = clips as [ClipRecord, ClipRecord];
    // The first clip runs until post-roll after the box stopped at second 12, not after it started.
    expect(first.end).toBeGreaterThanOrEqual(startedBefore + 12_000 + POST_ROLL_S * 1000 - REPORT_SLACK_MS);
    expect(second.start).toBeGreaterThanOrEqual(startedBefore + 20_000 - 2_000);

    // One event for each stretch of motion, carrying its clip; none while the motion went on.
    expect(events.map((e) => e.trigger.kind)).toEqual(['motion', 'motion']);
    expect(events.map((e) => e.trigger.source)).toEqual(['video', 'video']);
    expect(events.map((e) => e.clipId)).toEqual([first.id, second.id]);
    expect(events[1]!.trigger.at).toBeGreaterThanOrEqual(startedBefore + 20_000);
    // Home Assistant hears of the motion as long as it lasts: never a silence as long as its off_delay while the box moves.
    expect(plaintext.every((p) => p.type === 'motion' && p.source === 'video')).toBe(true);
    const heard = plaintext.map((p) => Date.parse(String(p.at)));
    const during = heard.filter((t) => t < startedBefore + 12_000 + REPORT_SLACK_MS);
    expect(during.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < during.length; i++) expect(during[i]! - during[i - 1]!).toBeLessThan(OFF_DELAY_S * 1000);
    expect(during.at(-1)).toBeGreaterThanOrEqual(startedBefore + 12_000 - OFF_DELAY_S * 1000);
  });

  it('follows a clip capped at maxClipSeconds with one that starts where it ended, each with its own event', async () => {
    // Moving for 12 s with clips capped at 5 s: three clips, end to end.
    const { startedBefore, clips, events, plaintext } = await watch([[2, 14]], 22, 5);

    expect(clips.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < clips.length; i++) expect(clips[i]!.start).toBeLessThanOrEqual(clips[i - 1]!.end);
    expect(clips.at(-1)!.end).toBeGreaterThanOrEqual(startedBefore + 14_000 + POST_ROLL_S * 1000 - REPORT_SLACK_MS);
    // The owner never gets a clip without an event, nor an event without a clip of its own.
    expect(events.map((e) => e.clipId)).toEqual(clips.map((c) => c.id));
    expect(plaintext).toHaveLength(clips.length);
  });
});
