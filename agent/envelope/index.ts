/**
 * Protocol v2 messages, for the agent, the CLI and the phone app alike (isomorphic: no `node:`
 * imports). Signed envelopes with the topic inside the signed bytes, sealed with age to their
 * readers, replay rules, and the owner-channel topic names.
 */
export { concatBytes as concat, hex } from '../tlog/index.js';
export { b64url, fingerprint, fromB64url, fromUtf8, keyIdOf, sha256Hex, utf8 } from './bytes.js';
export {
  ENVELOPE_TAG,
  EnvelopeError,
  parseEnvelope,
  signEnvelope,
  signedBytes,
  verifyEd25519,
  verifyEnvelope,
  type Ed25519Verify,
  type EnvelopeRefusal,
  type ParsedEnvelope,
  type Signer,
} from './envelope.js';
export { isAgeRecipient, newSealingIdentity, recipientOf, seal, unseal, type AgeIdentity, type AgeRecipient } from './seal.js';
export {
  MAX_SEALED_BYTES,
  openMessage,
  resealPlaintext,
  sealMessage,
  type Json,
  type MessageBody,
  type OpenedMessage,
  type OpenOptions,
  type SealedMessage,
} from './message.js';
export { isTimely, MAX_CLOCK_SKEW_MS, SeqGuard, type Verdict } from './replay.js';
export {
  DECISION_LIFETIME_MS,
  destinationText,
  ID_PATTERN,
  isId,
  isSha256,
  isTerminal,
  makeDecision,
  MAX_DECISION_LIFETIME_MS,
  describeRequesterKey,
  MessageError,
  MIN_NONCE_BYTES,
  parseDecision,
  parseEnrollment,
  parseEvent,
  parseNotice,
  parsePending,
  parseReceipt,
  parseSnapshot,
  parseStatus,
  REQUEST_STATES,
  TERMINAL_STATES,
  type DecisionBody,
  type DecisionClip,
  type Destination,
  type DoorbellEvent,
  type EnrollmentNews,
  type Notice,
  type NoticeClip,
  type NoticeRequester,
  type Pending,
  type Receipt,
  type RequestState,
  type RequestStatus,
} from './owner-messages.js';
export { ownerTopics, type OwnerTopics } from './topics.js';
export { BROKER_AUTH_TAG, BROKER_AUTH_WINDOW_S, brokerPassword, checkBrokerPassword } from './broker-auth.js';
export { OwnerInbox, type InboxOptions, type Received, type ShownNotice } from './owner-inbox.js';
export { decisionRefusal, MAX_DECISION_SENDS, RESEND_AFTER_MS, resendWhileUnanswered, type ResendOptions } from './resend.js';
