import type { TriggerKind, TriggerSource } from '../events.js';

/** A finished clip. Times are milliseconds since the epoch. */
export interface ClipRecord {
  id: string;
  start: number;
  end: number;
  bytes: number;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
  kind: TriggerKind;
  source: TriggerSource;
  triggeredAt: number;
  /** JPEG, at most 24 KiB; null when capture made none or it was lost in a crash. */
  thumbnail: Buffer | null;
  createdAt: number;
  /** Absolute path of the MP4 file. */
  path: string;
}

/** What the recorder knows about a clip before it writes it. */
export interface NewClip {
  id: string;
  start: number;
  end: number;
  kind: TriggerKind;
  source: TriggerSource;
  triggeredAt: number;
}

export interface StoreUsage {
  usedBytes: number;
  capBytes: number;
  clips: number;
  /** Start of the oldest clip, null when the store is empty. */
  oldest: number | null;
}

export type EvictReason = 'space' | 'age';
