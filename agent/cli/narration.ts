/**
 * The demo's running commentary: what the agent's audit log records (pairings, requests, decisions,
 * uploads, receipts), told as it happens in lines a newcomer can follow. Upload progress, which is
 * not audited, comes from the agent's `upload-progress` event.
 */
import { fingerprint } from '../envelope/index.js';
import { formatBytes } from './command.js';
import { ProgressBar } from './progress.js';

interface Entry {
  type: string;
  at: string;
  [key: string]: unknown;
}

interface RequestSeen {
  from: string;
  host: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

export class Narrator {
  private readonly requests = new Map<string, RequestSeen>();
  private readonly bars = new Map<string, ProgressBar>();

  constructor(private readonly say: (line: string) => void) {}

  entry(e: Entry): void {
    const line = this.describe(e);
    if (line) this.say(`${e.at.slice(11, 23)}  ${line}`);
  }

  progress(p: { requestId: string; sentBytes: number; totalBytes: number }): void {
    let bar = this.bars.get(p.requestId);
    if (!bar) {
      bar = new ProgressBar({ isTTY: false, write: (text) => this.say(text.trimEnd()) }, `${new Date().toISOString().slice(11, 23)}  ${p.requestId}: uploading `);
      this.bars.set(p.requestId, bar);
    }
    bar.update(p.sentBytes, p.totalBytes);
  }

  private describe(e: Entry): string | undefined {
    const id = str(e.requestId);
    const seen = this.requests.get(id);
    switch (e.type) {
      case 'enrollment':
        return `owner "${str(e.name)}" enrolled (${str(e.via)}), key ${fingerprint(str(e.keyId))}`;
      case 'revocation':
        return `owner "${str(e.name)}" revoked, key ${fingerprint(str(e.keyId))}`;
      case 'pairing-aborted':
        return `pairing aborted: ${str(e.reason)}`;
      case 'request': {
        const requester = (e.requester ?? {}) as { name?: unknown; kind?: unknown };
        const from = `${str(requester.name)} (${str(requester.kind)})`;
        this.requests.set(id, { from, host: str(e.destinationHost) });
        const held = e.state === 'pending' ? `, ${plural(count(e.clips), 'clip')} held, waiting for the owner's decision` : `: ${str(e.state)}`;
        return `request ${id} from ${from}: "${str(e.reason)}"${held}`;
      }
      case 'decision': {
        const who = fingerprint(str(e.keyId));
        return e.decision === 'approve'
          ? `${id}: approved by ${who} (${plural(count(e.clips), 'clip')})`
          : `${id}: denied by ${who}; the requester is told nothing`;
      }
      case 'upload-attempt':
        return `${id}: uploading to ${seen?.host ?? 'the requester'} (attempt ${String(e.attempt)})`;
      case 'upload-result':
        if (e.ok === true) {
          this.bars.get(id)?.complete();
          this.bars.delete(id);
          const bytes = typeof e.bytes === 'number' ? `, ${formatBytes(e.bytes)}` : '';
          return `${id}: uploaded (HTTP ${String(e.status)}${bytes}); receipt: manifest sha256 ${str(e.manifestSha256).slice(0, 16)}…`;
        }
        return `${id}: upload attempt ${String(e.attempt)} failed: ${str(e.detail) || str(e.outcome)}`;
      case 'closed':
      case 'expired':
        this.bars.delete(id);
        return `${id}: ${str(e.state)}${e.detail ? ` (${str(e.detail)})` : ''}`;
      case 'refusal':
        return `refused on ${str(e.topic)}: ${str(e.reason)}${typeof e.count === 'number' && e.count > 1 ? ` (×${e.count})` : ''}`;
      case 'push-subscription':
        return `owner ${fingerprint(str(e.keyId))} ${e.service ? `turned on notifications (${count(e.kinds) ? (e.kinds as string[]).join(', ') : 'none'})` : 'turned off notifications'}`;
      case 'push-subscription-removed':
        return `owner ${fingerprint(str(e.keyId))}'s push subscription expired (HTTP ${String(e.status)}): removed`;
      default:
        return undefined;
    }
  }
}
