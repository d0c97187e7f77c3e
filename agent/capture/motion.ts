/**
 * Video motion detection on small grey frames (W×H bytes, one per pixel), pure and synchronous.
 *
 * Each watched pixel is compared with a running background (an exponential moving average). Before
 * differencing, a global light change is taken out: the median difference is measured per band of
 * background brightness and subtracted. That cancels any change of tone over the whole picture (an
 * offset, a gain or contrast change, bright areas clipping, the background lagging behind a dusk
 * ramp), while a person, who covers a minority of every band, barely moves the medians.
 * A change over most of the frame, before or after that correction (a lamp switched on or off, the
 * infrared filter switching, the camera knocked), is not a person either: the background is
 * re-seeded from that frame and it reports nothing; someone walking in as a lamp switches on for
 * them is seen from the next frames. A light that brightens only part of the scene (a lamp at one
 * side) is neither global nor most of the frame and can pass for motion: exclude it with a zone.
 * A motion episode starts when at least `minAreaPercent` of the watched pixels differ by more than
 * `pixelThreshold` for `consecutiveFrames` frames in a row, and ends after as many frames in a row
 * below that; each verdict says whether this frame started one and whether one is going on.
 */

export interface MotionZone {
  kind: 'include' | 'exclude';
  /** The polygon's corners as fractions of the frame: [0, 0] top left, [1, 1] bottom right. */
  points: [number, number][];
}

export interface MotionOptions {
  width: number;
  height: number;
  /** Grey levels (0–255) a pixel must differ from the background by to count as changed. */
  pixelThreshold: number;
  /** Changed share of the watched pixels, in percent, that makes a frame "moving". */
  minAreaPercent: number;
  consecutiveFrames: number;
  /** Weight of each new frame in the background (0–1): 0.05 forgets a scene in about 20 frames. */
  backgroundAlpha: number;
  zones: MotionZone[];
}

export type FrameState = 'learning' | 'still' | 'moving' | 'light-change';

export interface FrameVerdict {
  state: FrameState;
  /** Share of the watched pixels that differ from the background after the light correction, in percent. */
  changedPercent: number;
  /** True on the one frame where a motion episode starts. */
  motionStarted: boolean;
  /** True from the frame that starts an episode up to, not including, the frame that ends it. */
  inEpisode: boolean;
}

/** Above this changed share the whole scene changed: lighting or the camera, not someone walking in. */
export const LIGHT_CHANGE_PERCENT = 65;
const BANDS = 16;
const BAND_WIDTH = 256 / BANDS;
/** Histogram bins for a difference of −255…255. */
const DIFFS = 511;
/** A brightness band needs this many watched pixels to measure its own light shift; emptier bands borrow from neighbours. */
const MIN_BAND_PIXELS = 16;

/** 1 for each watched pixel: inside an include zone (or anywhere, when there is none) and inside no exclude zone. */
export function rasteriseZones(zones: readonly MotionZone[], width: number, height: number): Uint8Array {
  const includes = zones.filter((z) => z.kind === 'include');
  const excludes = zones.filter((z) => z.kind === 'exclude');
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = (y + 0.5) / height;
    for (let x = 0; x < width; x++) {
      const fx = (x + 0.5) / width;
      const included = includes.length === 0 || includes.some((z) => insidePolygon(z.points, fx, fy));
      mask[y * width + x] = included && !excludes.some((z) => insidePolygon(z.points, fx, fy)) ? 1 : 0;
    }
  }
  return mask;
}

/** Even-odd rule: count the polygon edges a ray to the right of the point crosses. */
function insidePolygon(points: readonly [number, number][], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i]!;
    const [xj, yj] = points[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export class MotionDetector {
  private readonly mask: Uint8Array;
  private readonly watched: number;
  private readonly background: Float32Array;
  /** Frames averaged into the background since it was last seeded. */
  private learned = 0;
  private movingStreak = 0;
  private stillStreak = 0;
  private inEpisode = false;
  private readonly bandHistograms: Uint32Array;
  private readonly bandCounts: Uint32Array;
  private readonly bandShift = new Float32Array(BANDS);

  constructor(private readonly options: MotionOptions) {
    const { width, height, zones } = options;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Error(`motion frames must be at least 1x1 pixels, got ${width}x${height}`);
    }
    for (const [i, zone] of zones.entries()) {
      if (zone.points.length < 3) throw new Error(`motion zone ${i + 1} needs at least 3 points, has ${zone.points.length}`);
    }
    this.mask = rasteriseZones(zones, width, height);
    this.watched = this.mask.reduce((sum, m) => sum + m, 0);
    if (this.watched === 0) throw new Error('the motion zones leave no pixel of the frame to watch');
    this.background = new Float32Array(width * height);
    this.bandHistograms = new Uint32Array(BANDS * DIFFS);
    this.bandCounts = new Uint32Array(BANDS);
  }

  get frameBytes(): number {
    return this.options.width * this.options.height;
  }

  /** Forgets the background, e.g. when the stream restarted and the next frame may show another scene. */
  reset(): void {
    this.learned = 0;
    this.movingStreak = 0;
    this.stillStreak = 0;
    this.inEpisode = false;
  }

  push(frame: Uint8Array): FrameVerdict {
    if (frame.length !== this.frameBytes) {
      throw new Error(`a motion frame has ${frame.length} bytes; ${this.options.width}x${this.options.height} grey needs ${this.frameBytes}`);
    }
    if (this.learned === 0) {
      this.seed(frame);
      return { state: 'learning', changedPercent: 0, motionStarted: false, inEpisode: false };
    }
    this.measureLightShift(frame);
    const { raw, corrected } = this.countAndLearn(frame);
    const changedPercent = (corrected / this.watched) * 100;
    // Judged before the correction too: a lamp switching off reveals the texture of areas it had
    // saturated, which no tone correction can predict, and an infrared switch is only partly a tone.
    if ((raw / this.watched) * 100 > LIGHT_CHANGE_PERCENT || changedPercent > LIGHT_CHANGE_PERCENT) {
      this.seed(frame);
      this.movingStreak = 0;
      return { state: 'light-change', changedPercent, motionStarted: false, inEpisode: this.inEpisode };
    }
    this.learned++;
    return this.decide(changedPercent);
  }

  private seed(frame: Uint8Array): void {
    this.background.set(frame);
    this.learned = 1;
  }

  /** The median (frame − background) per band of background brightness, interpolated across bands too empty to measure. */
  private measureLightShift(frame: Uint8Array): void {
    const { mask, background: bg, bandHistograms: hist, bandCounts: counts, bandShift: shift } = this;
    const everyPixel = this.watched === frame.length;
    hist.fill(0);
    counts.fill(0);
    for (let i = 0; i < frame.length; i++) {
      if (!everyPixel && mask[i] === 0) continue;
      const b = bg[i]!;
      // The background stays within 0…255, so the band is 0…15 and the bin 0…510 (round half up, as Math.round).
      const band = (b * (1 / BAND_WIDTH)) | 0;
      hist[band * DIFFS + ((frame[i]! - b + 255.5) | 0)]!++;
      counts[band]!++;
    }
    const measured: number[] = [];
    for (let band = 0; band < BANDS; band++) {
      if (counts[band]! < MIN_BAND_PIXELS) continue;
      shift[band] = histogramMedian(hist, band * DIFFS, counts[band]!) - 255;
      measured.push(band);
    }
    for (let band = 0; band < BANDS; band++) {
      if (counts[band]! >= MIN_BAND_PIXELS) continue;
      const below = measured.filter((b) => b < band).at(-1);
      const above = measured.find((b) => b > band);
      if (below === undefined && above === undefined) shift[band] = 0;
      else if (below === undefined) shift[band] = shift[above!]!;
      else if (above === undefined) shift[band] = shift[below]!;
      else shift[band] = shift[below]! + ((shift[above]! - shift[below]!) * (band - below)) / (above - below);
    }
  }

  /**
   * Watched pixels beyond the threshold, before (`raw`) and after (`corrected`) the light correction;
   * in the same pass the background learns the frame (a running mean until it holds 1/alpha frames,
   * then the moving average, so a fresh background settles fast). A frame judged a light change
   * re-seeds the background, so learning it here first costs nothing.
   */
  private countAndLearn(frame: Uint8Array): { raw: number; corrected: number } {
    const { mask, background: bg, bandShift: shift } = this;
    const everyPixel = this.watched === frame.length;
    const threshold = this.options.pixelThreshold;
    const alpha = Math.max(this.options.backgroundAlpha, 1 / (this.learned + 1));
    let raw = 0;
    let corrected = 0;
    for (let i = 0; i < frame.length; i++) {
      const b = bg[i]!;
      const diff = frame[i]! - b;
      bg[i] = b + alpha * diff;
      if (!everyPixel && mask[i] === 0) continue;
      if (diff > threshold || diff < -threshold) raw++;
      // Linear between band centres, so the correction has no steps at band edges.
      let pos = b * (1 / BAND_WIDTH) - 0.5;
      pos = pos < 0 ? 0 : pos > BANDS - 1 ? BANDS - 1 : pos;
      const low = pos | 0;
      const high = low === BANDS - 1 ? low : low + 1;
      const off = diff - (shift[low]! + (shift[high]! - shift[low]!) * (pos - low));
      if (off > threshold || off < -threshold) corrected++;
    }
    return { raw, corrected };
  }

  private decide(changedPercent: number): FrameVerdict {
    const { minAreaPercent, consecutiveFrames } = this.options;
    const moving = changedPercent >= minAreaPercent;
    this.movingStreak = moving ? this.movingStreak + 1 : 0;
    this.stillStreak = moving ? 0 : this.stillStreak + 1;
    let motionStarted = false;
    if (!this.inEpisode && this.movingStreak >= consecutiveFrames) {
      this.inEpisode = true;
      motionStarted = true;
    } else if (this.inEpisode && this.stillStreak >= consecutiveFrames) {
      this.inEpisode = false;
    }
    return { state: moving ? 'moving' : 'still', changedPercent, motionStarted, inEpisode: this.inEpisode };
  }
}

function histogramMedian(hist: Uint32Array, offset: number, count: number): number {
  const half = count / 2;
  let seen = 0;
  for (let v = 0; v < DIFFS; v++) {
    seen += hist[offset + v]!;
    if (seen >= half) return v;
  }
  return 255;
}

/**
 * Cuts a byte stream (ffmpeg's rawvideo on a pipe, in chunks of any size) into whole frames, in
 * order. A frame that lies within one chunk is handed on as a view of it, at no copy; one split
 * across chunks is assembled in a fresh buffer.
 */
export class FrameSplitter {
  private pending: Uint8Array | null = null;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly onFrame: (frame: Uint8Array) => void,
  ) {}

  write(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.pending === null && chunk.length - offset >= this.frameBytes) {
        this.onFrame(chunk.subarray(offset, offset + this.frameBytes));
        offset += this.frameBytes;
        continue;
      }
      this.pending ??= new Uint8Array(this.frameBytes);
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.pending.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        const frame = this.pending;
        this.pending = null;
        this.filled = 0;
        this.onFrame(frame);
      }
    }
  }
}
