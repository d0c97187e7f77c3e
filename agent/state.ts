/**
 * The retained `P/D/state` message (protocol.md "State"): device health only. Anyone on the broker
 * reads it, so nothing in it depends on requests, owners or the audit log.
 */
import { iso } from './clock.js';
import { VERSION } from './version.js';

export interface StateSources {
  startedAt: number;
  camera(): { ok: boolean; source: string; since: number; detail?: string | undefined };
  /** `refusal`: why the disk refuses writes (full), null while it takes them. */
  storage(): { usedBytes: number; capBytes: number; clips: number; oldest: number | null; refusal: string | null };
  outbox(): { pending: number; setAside: number; unstored: number };
}

export function buildState(sources: StateSources): Record<string, unknown> {
  const camera = sources.camera();
  const storage = sources.storage();
  const state: Record<string, unknown> = {
    v: 2,
    online: true,
    version: VERSION,
    startedAt: iso(sources.startedAt),
    camera: { ok: camera.ok, source: camera.source, since: iso(camera.since), ...(camera.detail ? { detail: camera.detail } : {}) },
    storage: {
      usedBytes: storage.usedBytes,
      capBytes: storage.capBytes,
      clips: storage.clips,
      ...(storage.oldest !== null ? { oldest: iso(storage.oldest) } : {}),
      writable: storage.refusal === null,
      ...(storage.refusal !== null ? { detail: storage.refusal } : {}),
    },
    outbox: sources.outbox(),
  };
  return state;
}

export const OFFLINE_STATE = JSON.stringify({ v: 2, online: false });

/** Coalesces bursts of changes into one publish after `delayMs`. */
export class Debounced {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly run: () => void,
    private readonly delayMs: number,
  ) {}

  trigger(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.run();
    }, this.delayMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
