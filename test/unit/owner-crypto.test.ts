import { createHash, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  b64urlDecode,
  b64urlEncode,
  generateOwnerKey,
  keyIdOf,
  parseB64url,
  publicKeyFromRaw,
  rawFromPublicKey,
  verifyEd25519,
} from '../../agent/owner/index.js';

// RFC 8032 section 7.1, test 1: secret key, public key, and the signature of the empty message.
const RFC_SECRET = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
const RFC_SIG = Buffer.from(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  'hex',
);

describe('keyIdOf', () => {
  it('is the first 16 hex characters of SHA-256 over the raw public key', () => {
    const independent = createHash('sha256').update(RFC_PUBLIC).digest('hex').slice(0, 16);
    expect(keyIdOf(RFC_PUBLIC)).toBe(independent);
    expect(keyIdOf(RFC_PUBLIC)).toBe('21fe31dfa154a261');
  });

  it('refuses anything that is not 32 bytes', () => {
    expect(() => keyIdOf(Buffer.alloc(31))).toThrow(/32 bytes/);
  });
});

describe('raw public keys and KeyObjects', () => {
  it('round-trip through JWK, from public and private keys alike', () => {
    expect(rawFromPublicKey(publicKeyFromRaw(RFC_PUBLIC)).equals(RFC_PUBLIC)).toBe(true);
    const privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64urlEncode(RFC_SECRET), x: b64urlEncode(RFC_PUBLIC) },
      format: 'jwk',
    });
    expect(rawFromPublicKey(privateKey).equals(RFC_PUBLIC)).toBe(true);
  });

  it('generates keys whose keyId matches their raw public key', () => {
    const key = generateOwnerKey();
    expect(key.publicKeyRaw).toHaveLength(32);
    expect(key.keyId).toBe(createHash('sha256').update(key.publicKeyRaw).digest('hex').slice(0, 16));
  });
});

describe('verifyEd25519', () => {
  it('accepts the RFC 8032 vector and rejects a changed message', () => {
    expect(verifyEd25519(RFC_PUBLIC, Buffer.alloc(0), RFC_SIG)).toBe(true);
    expect(verifyEd25519(RFC_PUBLIC, Buffer.from('x'), RFC_SIG)).toBe(false);
  });

  it('returns false, without throwing, for malformed keys and signatures', () => {
    expect(verifyEd25519(RFC_PUBLIC.subarray(1), Buffer.alloc(0), RFC_SIG)).toBe(false);
    expect(verifyEd25519(RFC_PUBLIC, Buffer.alloc(0), RFC_SIG.subarray(1))).toBe(false);
    expect(verifyEd25519(Buffer.alloc(32, 0xff), Buffer.alloc(0), RFC_SIG)).toBe(false);
  });
});

describe('base64url', () => {
  it('encodes without padding and decodes back', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x01, 0x02]);
    expect(b64urlEncode(bytes)).toBe('-_8BAg');
    expect(b64urlDecode('-_8BAg').equals(bytes)).toBe(true);
  });

  it.each([
    ['padding', '-_8BAg=='],
    ['standard base64 characters', '+/8BAg'],
    ['whitespace', '-_8B Ag'],
    ['an impossible length', '-_8BA'],
    ['non-zero trailing bits (non-canonical)', '-_8BAh'],
  ])('rejects %s', (_what, text) => {
    expect(parseB64url(text)).toBeUndefined();
    expect(() => b64urlDecode(text)).toThrow(/base64url/);
  });

  it('rejects non-strings', () => {
    expect(parseB64url(42)).toBeUndefined();
    expect(parseB64url(undefined)).toBeUndefined();
  });
});
