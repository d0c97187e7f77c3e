/** Pairing capability: the CPace exchange (isomorphic, shared with the phone app) and the device's window. */
export * from './protocol.js';
export {
  GUESS_BURST,
  GUESSES_PER_SECOND,
  PairingWindow,
  type PairingCloseReason,
  type PairingOpened,
  type PairingStep,
  type PairingWindowDeps,
} from './window.js';
export { readSetupCode, SETUP_CODE_CREDENTIAL } from './setup-code.js';
