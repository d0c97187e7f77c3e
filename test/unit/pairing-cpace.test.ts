/**
 * CPace against the test vectors of draft-irtf-cfrg-cpace-21, Appendix A.1 and B.3
 * (CPACE-RISTR255-SHA512), including the abort on invalid and neutral-element shares.
 */
import { describe, expect, it } from 'vitest';
import {
  calculateGenerator,
  confirmationKey,
  confirmationTag,
  generatorString,
  intermediateSessionKey,
  isIdentity,
  lvCat,
  prependLen,
  scalarFromBytes,
  scalarMult,
  scalarMultVfy,
  transcriptIr,
} from '../../agent/pairing/cpace.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// B.3.1
const PRS = ascii('Password');
const CI = hex('0b415f696e69746961746f720b425f726573706f6e646572');
const SID = hex('7e4b4791d6a8ef019b936c79fb7f2c57');
// B.3.2, B.3.3
const YA_SCALAR = hex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08');
const YB_SCALAR = hex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d');
const ADA = ascii('ADa');
const ADB = ascii('ADb');
const YA = 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157';
const YB = '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258';
const K = '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f';

describe('CPace string utilities (A.1)', () => {
  it('prepend_len and lv_cat match the draft', () => {
    expect(toHex(prependLen(new Uint8Array()))).toBe('00');
    expect(toHex(prependLen(ascii('1234')))).toBe('0431323334');
    const r127 = Uint8Array.from({ length: 127 }, (_, i) => i);
    const r128 = Uint8Array.from({ length: 128 }, (_, i) => i);
    expect(toHex(prependLen(r127)).slice(0, 4)).toBe('7f00');
    expect(toHex(prependLen(r128)).slice(0, 6)).toBe('800100');
    expect(prependLen(r128).length).toBe(130);
    expect(toHex(lvCat(ascii('1234'), ascii('5'), new Uint8Array(), ascii('6789')))).toBe('04313233340135000436373839');
  });
});

describe('CPACE-RISTR255-SHA512 (B.3)', () => {
  it('generator string, generator, shares, K and ISK', () => {
    expect(toHex(generatorString(PRS, CI, SID))).toBe(
      '11435061636552697374726574746f3235350850617373776f726464' +
        '00'.repeat(100) +
        '180b415f696e69746961746f720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57',
    );
    const g = calculateGenerator(PRS, CI, SID);
    expect(toHex(g.toBytes())).toBe('222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56');
    const ya = scalarFromBytes(YA_SCALAR);
    const yb = scalarFromBytes(YB_SCALAR);
    expect(toHex(scalarMult(ya, g))).toBe(YA);
    expect(toHex(scalarMult(yb, g))).toBe(YB);
    expect(toHex(scalarMultVfy(ya, hex(YB)))).toBe(K);
    expect(toHex(scalarMultVfy(yb, hex(YA)))).toBe(K);
    const transcript = transcriptIr(hex(YA), ADA, hex(YB), ADB);
    expect(toHex(transcript)).toBe(
      '20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f725803414462',
    );
    expect(toHex(intermediateSessionKey(SID, hex(K), transcript))).toBe(
      'b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447',
    );
  });

  it('scalar_mult_vfy with a valid point (B.3.10), and G.I for an invalid encoding or the neutral element (B.3.11)', () => {
    const s = scalarFromBytes(hex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05'));
    expect(toHex(scalarMultVfy(s, hex('2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c')))).toBe(
      '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e',
    );
    expect(isIdentity(scalarMultVfy(s, hex('2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c')))).toBe(true);
    expect(isIdentity(scalarMultVfy(s, new Uint8Array(32)))).toBe(true);
    expect(isIdentity(scalarMultVfy(s, new Uint8Array(31)))).toBe(true);
  });

  it('key confirmation tags (10.4) differ per side and per key', () => {
    const isk = intermediateSessionKey(SID, hex(K), transcriptIr(hex(YA), ADA, hex(YB), ADB));
    const macKey = confirmationKey(SID, isk);
    const ta = confirmationTag(macKey, hex(YA), ADA);
    const tb = confirmationTag(macKey, hex(YB), ADB);
    expect(ta).toHaveLength(64);
    expect(toHex(ta)).not.toBe(toHex(tb));
    expect(toHex(confirmationTag(confirmationKey(SID, isk.map((b) => b ^ 1)), hex(YA), ADA))).not.toBe(toHex(ta));
  });
});
