/** Owner capability: owner keys, enrollment, the sealed owner channel, decisions and the device's own keys. */
export {
  b64urlDecode,
  b64urlEncode,
  generateOwnerKey,
  keyIdOf,
  parseB64url,
  publicKeyFromRaw,
  rawFromPublicKey,
  readKeyFile,
  sha256Hex,
  verifyEd25519,
  writeKeyFile,
  type OwnerKeyPair,
} from './crypto.js';
export {
  DEVICE_AGE_FILE,
  DEVICE_KEY_FILE,
  DEVICE_PUBLIC_FILE,
  DeviceKey,
  readAgeIdentity,
  readDevicePublicKeys,
  type DeviceKeyDeps,
  type DevicePublicKeys,
} from './device-key.js';
export { MAX_INBOUND_BYTES, OwnerChannel, type ChannelMessaging, type InboundHandler, type OwnerChannelDeps, type OwnerFields, type SendOptions } from './channel.js';
export {
  MAX_CLOCK_AHEAD_MS,
  MAX_DECISION_LIFETIME_MS,
  MIN_NONCE_BYTES,
  verifyDecision,
  type DecisionContext,
  type DecisionRefusal,
  type DecisionVerdict,
} from './decision.js';
export { Enrollment, type EnrollmentAnnouncement, type EnrollmentDeps } from './enrollment.js';
export { generateOwnerKeyFile, ownerKeyFrom, readOwnerKeyFile, type OwnerKeyFile } from './key-file.js';
export { NonceStore, type NonceStoreDeps } from './nonces.js';
export {
  isValidOwnerName,
  OwnerKeyError,
  OwnerRegistry,
  parseOwnerPublicKey,
  type EnrolledVia,
  type KeyStatus,
  type OwnerKey,
  type OwnerKeyProblem,
  type OwnerRegistryDeps,
} from './registry.js';
export { DeviceSequence } from './sequence.js';
