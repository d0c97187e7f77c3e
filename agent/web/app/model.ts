/** Everything the screens show, and a change signal so each screen redraws only what it shows. */
import type { ConnectionState } from './mqtt-client.js';
import type { DoorbellEvent, DoorbellState, Notice, RequestStatus } from './protocol.js';
import type { ConnectionSettings } from './settings.js';
import type { CheckpointVerdict } from './transparency.js';
import type { TransparencyReport } from './report.js';

export type Change = 'connection' | 'settings' | 'pairing' | 'inbox' | 'status' | 'decision' | 'doorbell' | 'history';

export interface PairingRecord {
  keyId: string;
  /** The name the owner gave this phone. */
  name: string;
  pairedAt: string;
  /** Base64url Ed25519 key the doorbell proved with the pairing code: trusted from then on. */
  devicePublicKey: string;
  /** Its keyId: the device fingerprint `doorbell owner list` shows. */
  deviceKeyId: string;
  /** The doorbell's age recipient, proved the same way: decisions are sealed to it. */
  deviceSealingRecipient: string;
}

/** A message on the doorbell's sealed topics that was not believed, and why (shown to the owner, kept across reloads). */
export interface Refusal {
  /** When the latest of `count` refusals happened. */
  at: string;
  reason: string;
  detail: string;
  /** The doorbell signed it for this topic: someone moved it. */
  movedFrom?: string;
  /** Refusals of the same kind in a row are folded into one entry, so a flood is one line. */
  count: number;
}

export type PairingAttempt =
  | { state: 'waiting'; keyId?: string }
  | { state: 'refused'; detail: string }
  | { state: 'failed'; detail: string };

export interface SentDecision {
  decision: 'approve' | 'deny';
  at: string;
  clipIds: string[];
}

export interface DoorbellView {
  state?: DoorbellState;
  events: DoorbellEvent[];
  /** `data:` URL of the latest snapshot JPEG (the policy allows data: images, not blob:). */
  snapshot?: string;
  /** The audit log's latest signed checkpoint and what this phone made of it. */
  checkpoint?: string;
  checkpointVerdict?: CheckpointVerdict;
  /** The latest transparency report the doorbell sent this phone. */
  report?: TransparencyReport;
}

export class Model {
  settings: Partial<ConnectionSettings> = {};
  settingsProblem: string | undefined;
  connection: { state: ConnectionState; detail: string } = { state: 'offline', detail: '' };
  /** The doorbell answered an ask since the page loaded: the inbox is what it says waits, not a guess. */
  synced = false;
  pairing: PairingRecord | undefined;
  attempt: PairingAttempt | undefined;
  /** Pending notices: the retained inbox. */
  readonly notices = new Map<string, Notice>();
  /** Every notice seen since the page loaded, so a request stays readable after it leaves the inbox. */
  readonly seenNotices = new Map<string, Notice>();
  readonly statuses = new Map<string, RequestStatus>();
  readonly sent = new Map<string, SentDecision>();
  readonly decisionErrors = new Map<string, string>();
  readonly doorbell: DoorbellView = { events: [] };
  /** The latest messages refused as forged, moved, replayed or not for this phone, newest first. */
  refusals: Refusal[] = [];
  /** When this page started listening: the inbox warns of the refusals since then, the doorbell's events list all kept. */
  listeningSince = '';
  private readonly selections = new Map<string, Set<string>>();
  private readonly listeners = new Set<(change: Change) => void>();

  on(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  /** The clips chosen for approval; all of them until the owner changes that. */
  selection(requestId: string): Set<string> {
    let selected = this.selections.get(requestId);
    if (!selected) {
      selected = new Set(this.notices.get(requestId)?.clips.map((c) => c.id) ?? []);
      this.selections.set(requestId, selected);
    }
    return selected;
  }

  get deviceName(): string {
    return this.settings.deviceName ?? this.settings.deviceId ?? 'Doorbell';
  }
}
