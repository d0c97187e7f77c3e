/** The shapes capture shares with the rest of the agent. Times are wall-clock milliseconds. */
import type { Trigger } from '../events.js';
import type { ClipRecord, NewClip } from '../store/index.js';

/** One closed pre-roll segment on tmpfs. */
export interface Segment {
  path: string;
  start: number;
  end: number;
}

/** The camera as the state topic and the watchdog see it. */
export interface CameraHealth {
  ok: boolean;
  /** When `ok` last changed. */
  since: number;
  /** ffmpeg restarts since start. */
  restarts: number;
  /** When the newest segment closed; null before the first. */
  lastSegmentAt: number | null;
  /** The most recent hole in the video (camera down, ffmpeg restarted); null while there has been none. */
  lastGap: { start: number; end: number } | null;
  detail?: string;
}

/** The clip store as the recorder needs it (ClipStore implements it). */
export interface ClipSink {
  /** Records the clip as being written; returns the temp path to write the MP4 to. */
  begin(clip: NewClip): string;
  commit(id: string, thumbnail: Buffer | null): Promise<ClipRecord>;
  /** Drops a clip that was begun and will not be committed. */
  abort(id: string): void;
}

export interface RecorderEvents {
  'clip-opened': [{ clipId: string; trigger: Trigger }];
  'clip-extended': [{ clipId: string; end: number; trigger: Trigger }];
  /** A JPEG of the trigger moment, made as soon as its segment closed. */
  snapshot: [{ clipId: string; jpeg: Buffer }];
  'clip-ready': [{ clip: ClipRecord }];
  'clip-failed': [{ clipId: string; error: string }];
}

export interface RingEvents {
  segment: [Segment];
  health: [CameraHealth];
}

/** `motion`: video motion started (`continuing` false) or goes on (true, about once a second); `at` is wall-clock milliseconds. */
export type CaptureEvents = RecorderEvents & { health: [CameraHealth]; motion: [{ at: number; continuing: boolean }] };
