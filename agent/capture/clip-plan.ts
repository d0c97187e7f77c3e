/** Which clip a trigger belongs to, and which segments make a clip: the rules alone, no I/O. Times in ms. */
import type { Trigger } from '../events.js';
import type { Segment } from './types.js';

export interface ClipWindows {
  preRollMs: number;
  postRollMs: number;
  maxClipMs: number;
}

export interface PlannedClip {
  id: string;
  start: number;
  end: number;
  /** The trigger that opened it: its kind, source and moment describe the clip. */
  trigger: Trigger;
}

export interface Placement {
  clip: PlannedClip;
  opened: boolean;
  /** Clips whose end moved: the open clip extended, or capped before a new one was opened. */
  extended: PlannedClip[];
}

/**
 * A trigger opens `[at − preRoll, at + postRoll]`. One whose window reaches into the open clip (a
 * clip is open until it is written) extends it to `at + postRoll`, up to `start + maxClip`: two rings
 * a post-roll apart make one clip, not two that meet. One that would need more caps the open clip and
 * opens the next, which starts where the previous ended: clips never overlap.
 */
export class ClipPlan {
  private open: PlannedClip | null = null;
  private latestEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly windows: ClipWindows,
    private readonly newId: (at: number) => string,
  ) {}

  place(trigger: Trigger): Placement {
    const { preRollMs, postRollMs, maxClipMs } = this.windows;
    const extended: PlannedClip[] = [];
    const open = this.open;
    if (open && trigger.at - preRollMs <= open.end) {
      const wanted = trigger.at + postRollMs;
      const cap = open.start + maxClipMs;
      if (wanted <= cap) {
        if (wanted > open.end) {
          open.end = wanted;
          extended.push(open);
        }
        this.latestEnd = Math.max(this.latestEnd, open.end);
        return { clip: open, opened: false, extended };
      }
      if (open.end < cap) {
        open.end = cap;
        extended.push(open);
      }
      this.latestEnd = Math.max(this.latestEnd, open.end);
    }
    const start = Math.max(trigger.at - preRollMs, this.latestEnd);
    const clip = { id: this.newId(trigger.at), start, end: Math.min(trigger.at + postRollMs, start + maxClipMs), trigger };
    this.open = clip;
    this.latestEnd = clip.end;
    return { clip, opened: true, extended };
  }

  /** The clip is being written: later triggers open a new one. */
  close(id: string): void {
    if (this.open?.id === id) this.open = null;
  }
}

/** The segments that hold any of `[start, end)`, oldest first. */
export function coveringSegments(segments: readonly Segment[], start: number, end: number): Segment[] {
  return segments.filter((s) => s.end > start && s.start < end).sort((a, b) => a.start - b.start);
}

/** The segment showing moment `at`, or the first one after it when `at` fell into a gap. */
export function segmentShowing(segments: readonly Segment[], at: number): Segment | undefined {
  return segments.filter((s) => s.end > at).sort((a, b) => a.start - b.start)[0];
}

/** Milliseconds of `[start, end)` that no segment covers. */
export function missingMs(covering: readonly Segment[], start: number, end: number): number {
  const covered = covering.reduce((sum, s) => sum + Math.max(0, Math.min(s.end, end) - Math.max(s.start, start)), 0);
  return Math.max(0, end - start - covered);
}
