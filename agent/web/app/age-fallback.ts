/**
 * age-encryption falls back to @noble/curves when WebCrypto lacks X25519, but it recognises only a
 * ReferenceError or NotSupportedError: on a plain-http page `crypto.subtle` is undefined and the
 * TypeError it gets stops it. Switching its WebCrypto path off there (its own switch, reached by
 * file because the package does not export it) makes sealing work on such pages too.
 */
import { forceWebCryptoOff } from '../../../node_modules/age-encryption/dist/x25519.js';
import { hasWebCrypto } from './digest.js';

export function useSoftwareX25519WhereNeeded(): void {
  forceWebCryptoOff(!hasWebCrypto());
}
