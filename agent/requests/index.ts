/** Requests capability: requester keys, intake, matching and holds, decisions, evidence bundles and uploads. */
export { RequestService, holderFor, type ClipAccess, type Messaging, type RequestServiceDeps } from './service.js';
export { RequestTable, TERMINAL_STATES, type RequestRow, type RequestState } from './request-table.js';
export { validateRequest, requestSchema, MAX_REQUEST_BYTES, type Request } from './request-schema.js';
export {
  fingerprint,
  idBelongsTo,
  replyToProblem,
  signEnvelope,
  verifyEnvelope,
  RECEIPT_DOMAIN,
  REQUEST_DOMAIN,
  VOUCH_DOMAIN,
  WITHDRAWAL_DOMAIN,
  type SignedEnvelope,
} from './requester-key.js';
export {
  boardEntryBytes,
  openRequestMessage,
  vouchPayloadText,
  MAX_REQUEST_MESSAGE_BYTES,
  type BoardProof,
  type RequestMessage,
} from './request-message.js';
export { checkDestination, isForbiddenAddress, DestinationError, systemLookup, type LookupFn, type CheckedDestination } from './destination.js';
export { encodeGeohash, geohashNeighbours, distanceMeters } from './geohash.js';
export { buildEvidenceBundle, verifyBundle, readBundle, type Manifest } from './bundle.js';
export { streamWriter } from './bundle-writer.js';
export { buildNotice } from './notice.js';
