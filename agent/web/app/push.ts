/**
 * Notifications while the app is closed (protocol.md "Push subscription"): the browser subscribes
 * with the doorbell's VAPID key, and the app tells the doorbell where to push, signed by this
 * phone's owner key and sealed to the doorbell, over the owner channel.
 */
import { fromB64url, ownerTopics, sealMessage } from '../../envelope/index.js';
import { parsePushSubscription, type PushKind } from '../../push/subscription-message.js';
import type { OwnerKey } from './keys.js';

export interface PushChoice {
  kinds: PushKind[];
  /** Whether a request's notification may name the requester and the reason. */
  details: boolean;
}

export const DEFAULT_PUSH_CHOICE: PushChoice = { kinds: [], details: false };

export interface PushTarget {
  key: OwnerKey;
  deviceId: string;
  prefix: string;
  deviceSealingRecipient: string;
  publish(topic: string, payload: Uint8Array): Promise<void>;
}

export function pushSupported(): boolean {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export async function sendPushChoice(target: PushTarget, choice: PushChoice): Promise<void> {
  if (!pushSupported()) throw new Error('this browser cannot show notifications from a closed app (it needs HTTPS and push support)');
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (choice.kinds.length > 0) {
    if ((await Notification.requestPermission()) !== 'granted') throw new Error('notifications are blocked for this page: allow them in the browser’s site settings');
    const config = (await (await fetch('/config.json', { cache: 'no-store' })).json()) as { pushPublicKey?: unknown };
    const vapid = fromB64url(config.pushPublicKey);
    if (!vapid || vapid.length !== 65) throw new Error('the doorbell offers no push key: update its agent');
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: vapid as Uint8Array<ArrayBuffer> });
  }
  const keys = subscription?.toJSON().keys;
  const body = parsePushSubscription({
    v: 2,
    kind: 'push-subscription',
    at: new Date().toISOString(),
    device: target.deviceId,
    subscription: choice.kinds.length > 0 && subscription ? { endpoint: subscription.endpoint, p256dh: keys?.p256dh ?? '', auth: keys?.auth ?? '' } : null,
    kinds: choice.kinds,
    details: choice.details,
  });
  const topic = ownerTopics(target.prefix, target.deviceId).in;
  const signer = { keyId: target.key.keyId, sign: (m: Uint8Array) => target.key.sign(new Uint8Array(m)) };
  const sealed = await sealMessage(signer, topic, { ...body }, [target.deviceSealingRecipient]);
  await target.publish(topic, sealed.ciphertext);
  if (choice.kinds.length === 0) await subscription?.unsubscribe();
}
