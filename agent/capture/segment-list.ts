/** The segment muxer's CSV list (`name,start,end` per closed segment, times in stream seconds), read from a pipe. */

export const SEGMENT_PATTERN = 's%09d.ts';
const SEGMENT_NAME = /^s(\d{9,})\.ts$/;

export interface ListedSegment {
  name: string;
  number: number;
  /** Stream time in seconds. */
  start: number;
  end: number;
}

/** The segment number in a file name made from SEGMENT_PATTERN; null for any other file. */
export function segmentNumber(name: string): number | null {
  const m = SEGMENT_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Parses list lines. Only lines ending in a newline count (the caller keeps the unfinished rest for
 * the next chunk). Lines that are complete but not ours are counted in `skipped` for the caller to report.
 */
export function parseSegmentList(text: string): { entries: ListedSegment[]; skipped: number } {
  const entries: ListedSegment[] = [];
  let skipped = 0;
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  for (const line of complete.split('\n')) {
    if (!line.trim()) continue;
    const [name = '', start, end] = line.trim().split(',');
    const number = segmentNumber(name);
    const s = Number(start);
    const e = Number(end);
    if (number === null || !Number.isFinite(s) || !Number.isFinite(e) || e < s) skipped++;
    else entries.push({ name, number, start: s, end: e });
  }
  return { entries: entries.sort((a, b) => a.number - b.number), skipped };
}
