/**
 * Maps one ffmpeg run's stream time to wall-clock milliseconds. Stream timestamps start anywhere
 * (0 for a test source, the camera's RTP clock for RTSP) and are not wall time, so each run is
 * anchored on the first segment we see close: wall = now − streamEnd. The anchor is late by at most
 * one list poll (~200 ms), well inside a segment. It is re-anchored when a later segment closes more
 * than `maxDriftMs` away from where the anchor predicts: the system clock stepped (a Pi without an
 * RTC sets its clock by NTP after boot), the camera's clock drifts or its timestamps jumped, or a
 * loaded machine let ffmpeg fall behind real time.
 */
export class StreamClock {
  private offsetMs: number | null = null;

  constructor(private readonly maxDriftMs = 2_000) {}

  /** A segment ending at `streamEnd` seconds was seen closed at `now`. Says whether the anchor moved. */
  observe(streamEnd: number, now: number): 'anchored' | 're-anchored' | 'steady' {
    const predicted = this.offsetMs === null ? null : this.offsetMs + streamEnd * 1000;
    if (predicted !== null && Math.abs(now - predicted) <= this.maxDriftMs) return 'steady';
    this.offsetMs = now - streamEnd * 1000;
    return predicted === null ? 'anchored' : 're-anchored';
  }

  toWall(streamSeconds: number): number {
    if (this.offsetMs === null) throw new Error('StreamClock.toWall() before the first observe()');
    return Math.round(this.offsetMs + streamSeconds * 1000);
  }
}
