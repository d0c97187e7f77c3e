/** Web Push notifications to owners' phones (RFC 8030, RFC 8291, RFC 8292). */
export { PushNotifier, type PushNotifierDeps, type PushSettings } from './notifier.js';
export { pushEventForAudit } from './audit-events.js';
export { pushPayload, type PushEvent, type PushPayload } from './payload.js';
export { PushSender, type PushMessage, type PushOutcome } from './sender.js';
export {
  isPushEndpoint,
  parsePushSubscription,
  PUSH_KINDS,
  PushSubscriptionError,
  type PushKind,
  type PushSubscriptionBody,
  type PushSubscriptionKeys,
} from './subscription-message.js';
export { VapidKey, VAPID_KEY_FILE, type VapidKeys } from './vapid-key.js';
