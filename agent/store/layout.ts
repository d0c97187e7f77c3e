/** Where the store keeps what on disk, under `storage.dir`. */
import { join } from 'node:path';
import { ID_PATTERN } from '../ids.js';

export const IDENTITY_FILE = '.doorbell-store-id';
export const TEMP_DIR = '.tmp';
const CLIP_SUFFIX = '.mp4';

export interface StoreLayout {
  /** `storage.dir` itself. */
  root: string;
  /** Finished clips: `<clipId>.mp4`, plus the identity file. */
  clips: string;
  /** Clips being written; anything here at start is an interrupted write. */
  temp: string;
  /** Files the store refused to own are moved here, never deleted. */
  quarantine: string;
  identity: string;
}

export function layoutOf(dir: string): StoreLayout {
  const clips = join(dir, 'clips');
  return {
    root: dir,
    clips,
    temp: join(clips, TEMP_DIR),
    quarantine: join(dir, 'quarantine'),
    identity: join(clips, IDENTITY_FILE),
  };
}

export function clipFileName(id: string): string {
  return id + CLIP_SUFFIX;
}

export function clipPath(layout: StoreLayout, id: string): string {
  return join(layout.clips, clipFileName(id));
}

export function tempPath(layout: StoreLayout, id: string): string {
  return join(layout.temp, clipFileName(id));
}

/** The clip id a file in the clip folder is named after, or undefined when the name is not one of ours. */
export function clipIdOfFile(name: string): string | undefined {
  if (!name.endsWith(CLIP_SUFFIX)) return undefined;
  const id = name.slice(0, -CLIP_SUFFIX.length);
  return ID_PATTERN.test(id) ? id : undefined;
}

/** Clip ids become file names, so one that could escape the folder is refused here. */
export function assertClipId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new TypeError(`invalid clip id ${JSON.stringify(id)}: expected letters, digits, ".", "_" or "-", at most 64 characters`);
  }
}
