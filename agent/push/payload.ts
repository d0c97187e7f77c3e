/**
 * What a notification says (protocol.md "Push notifications"): the JSON the phone's service worker
 * decrypts. No picture ever; a requester's name and reason only when the owner asked for them.
 */
import type { PushKind } from './subscription-message.js';

export type PushEvent =
  | { kind: 'ring' | 'motion'; at: string }
  | { kind: 'request'; at: string; requestId: string; requester: { name: string; kind: string }; reason: string }
  | { kind: 'upload'; at: string; requestId: string; ok: boolean };

export interface PushPayload {
  v: 2;
  kind: PushKind;
  at: string;
  title: string;
  body: string;
  /** The app view a tap opens. */
  url: string;
  /** Notifications with one tag replace each other on the phone. */
  tag: string;
}

const MAX_REASON = 200;

export function pushPayload(event: PushEvent, deviceName: string, details: boolean): PushPayload {
  const base = { v: 2 as const, kind: event.kind, at: event.at };
  switch (event.kind) {
    case 'ring':
      return { ...base, title: 'Someone is at the door', body: `${deviceName}: the doorbell rang`, url: '/#/doorbell', tag: 'ring' };
    case 'motion':
      return { ...base, title: 'Motion at the door', body: `${deviceName}: motion seen`, url: '/#/doorbell', tag: 'motion' };
    case 'request': {
      const reason = event.reason.length > MAX_REASON ? `${event.reason.slice(0, MAX_REASON - 1)}…` : event.reason;
      return {
        ...base,
        title: 'Footage requested',
        body: details ? `${event.requester.name} (${event.requester.kind}): ${reason}` : 'A request is waiting for your decision',
        url: `/#/request/${encodeURIComponent(event.requestId)}`,
        tag: `request-${event.requestId}`,
      };
    }
    case 'upload':
      return {
        ...base,
        title: event.ok ? 'Footage delivered' : 'Upload failed',
        body: event.ok ? 'The clips you approved were delivered' : 'The clips you approved could not be delivered',
        url: `/#/request/${encodeURIComponent(event.requestId)}`,
        tag: `request-${event.requestId}`,
      };
  }
}
