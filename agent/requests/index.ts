/** Requests capability: intake, matching and holds, decisions, evidence bundles and uploads. */
export { RequestService, holderFor, type ClipAccess, type Messaging, type RequestServiceDeps } from './service.js';
export { RequestTable, TERMINAL_STATES, type RequestRow, type RequestState } from './request-table.js';
export { validateRequest, requestSchema, MAX_REQUEST_BYTES, type Request } from './request-schema.js';
export { checkDestination, isForbiddenAddress, DestinationError, systemLookup, type LookupFn, type CheckedDestination } from './destination.js';
export { encodeGeohash, geohashNeighbours, distanceMeters } from './geohash.js';
export { buildEvidenceBundle, verifyBundle, readBundle, type Manifest } from './bundle.js';
export { buildNotice } from './notice.js';
