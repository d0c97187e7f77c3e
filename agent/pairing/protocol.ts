/**
 * The pairing exchange (protocol.md "Pairing"), isomorphic: the device answers with it and the phone
 * app (bundled by scripts/build-web.mjs) starts it. CPace with the code as password authenticates
 * both sides: the phone's offer rides in ADa, the device's keys in ADb, and each side's key
 * confirmation tag covers the whole transcript, so neither can be swapped without knowing the code.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import {
  calculateGenerator,
  concatBytes,
  confirmationKey,
  confirmationTag,
  equalBytes,
  intermediateSessionKey,
  isIdentity,
  lvCat,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
  transcriptIr,
} from './cpace.js';

export const PAIRING_VERSION = 2;
/** Digits of a code opened by the button or `doorbell pair` (120 s), and of an install's setup code. */
export const PAIRING_CODE_DIGITS = 10;
export const SETUP_CODE_DIGITS = 16;
const MAX_MESSAGE_BYTES = 4096;
const SID_BYTES = 16;

const encoder = new TextEncoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** What an owner's phone enrolls: a name and its two public keys. */
export interface PairingOffer {
  name: string;
  /** Raw 32-byte Ed25519 public key. */
  signingKey: Uint8Array;
  /** age X25519 recipient, `age1…`. */
  sealingRecipient: string;
}

/** What the device proves it holds. */
export interface DeviceKeys {
  deviceId: string;
  signingKey: Uint8Array;
  sealingRecipient: string;
}

export interface HelloMessage {
  v: 2;
  type: 'hello';
  sid: string;
  ya: string;
  name: string;
  signingKey: string;
  sealingRecipient: string;
}

export interface AnswerMessage {
  v: 2;
  type: 'answer';
  sid: string;
  yb: string;
  deviceId: string;
  signingKey: string;
  sealingRecipient: string;
  tb: string;
}

export interface ConfirmMessage {
  v: 2;
  type: 'confirm';
  sid: string;
  ta: string;
  proof: string;
}

export type PairingOutcome = 'enrolled' | 'aborted';

export interface ResultMessage {
  v: 2;
  type: 'result';
  sid: string;
  outcome: PairingOutcome;
  mac: string;
}

export class PairingMessageError extends Error {}

// ---- codes -------------------------------------------------------------------------------------

/** A code of `digits` uniform decimal digits (rejection sampling: no modulo bias). */
export function generateCode(digits: number, random: (length: number) => Uint8Array): string {
  let code = '';
  while (code.length < digits) {
    for (const byte of random(digits)) if (byte < 250 && code.length < digits) code += String(byte % 10);
  }
  return code;
}

/** The digits of what a person typed (spaces and dashes dropped), or undefined if it is no code. */
export function normalizeCode(typed: string): string | undefined {
  const digits = typed.replace(/[\s-]/g, '');
  return /^\d+$/.test(digits) && (digits.length === PAIRING_CODE_DIGITS || digits.length === SETUP_CODE_DIGITS) ? digits : undefined;
}

/** `12345 67890` or `1234 5678 9012 3456`: groups a person can read out and type. */
export function formatCode(code: string): string {
  const group = code.length === SETUP_CODE_DIGITS ? 4 : 5;
  return code.replace(new RegExp(`(\\d{${group}})(?=\\d)`, 'g'), '$1 ');
}

// ---- names, keys, topics -----------------------------------------------------------------------

/** The device's rule for owner names: 1 to 64 characters, no control characters, not only spaces. */
export function isValidOwnerName(name: unknown): name is string {
  return typeof name === 'string' && /^[^\p{C}\p{Zl}\p{Zp}]{1,64}$/u.test(name) && name.trim().length > 0;
}

/** An age X25519 recipient: `age1` and 58 bech32 characters. */
export function isAgeRecipient(text: unknown): text is string {
  return typeof text === 'string' && /^age1[02-9ac-hj-np-z]{58}$/.test(text);
}

/** First 16 hex characters of SHA-256 over the raw Ed25519 key (protocol.md "Keys"). */
export function keyIdOf(signingKey: Uint8Array): string {
  return Array.from(sha256(signingKey).subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The phone reads the device's answer and result here (broker: readable only by that key). */
export function pairingReplyTopic(prefix: string, deviceId: string, keyId: string, kind: 'answer' | 'result'): string {
  return `${prefix}/${deviceId}/pair/${keyId}/${kind}`;
}

// ---- byte strings bound by CPace -----------------------------------------------------------------

/** CI: binds a run to this protocol and this device. */
export function channelIdentifier(deviceId: string): Uint8Array {
  return lvCat(utf8('doorbell pairing v2'), utf8(deviceId));
}

/** ADa = lv_cat(owner Ed25519 key, UTF-8 age recipient, UTF-8 name). */
export function offerData(offer: PairingOffer): Uint8Array {
  return lvCat(offer.signingKey, utf8(offer.sealingRecipient), utf8(offer.name));
}

/** ADb = lv_cat(UTF-8 device id, device Ed25519 key, UTF-8 device age recipient). */
export function deviceData(device: DeviceKeys): Uint8Array {
  return lvCat(utf8(device.deviceId), device.signingKey, utf8(device.sealingRecipient));
}

/** What the phone signs with its new Ed25519 key: proof that it holds the key it enrolls. */
export function proofMessage(transcript: Uint8Array): Uint8Array {
  return concatBytes(utf8('doorbell pairing v2 proof\n'), sha512(transcript));
}

/** The key for the result's MAC: SHA-512("DoorbellPairResult" || sid || ISK). */
function resultKey(sid: Uint8Array, isk: Uint8Array): Uint8Array {
  return sha512(concatBytes(utf8('DoorbellPairResult'), sid, isk));
}

/** mac = HMAC-SHA-512(result key, lv_cat(sid, UTF-8 outcome)). */
function resultMac(key: Uint8Array, sid: Uint8Array, outcome: PairingOutcome): Uint8Array {
  return hmac(sha512, key, lvCat(sid, utf8(outcome)));
}

// ---- encoding ------------------------------------------------------------------------------------

export function b64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64url(text: unknown, length?: number): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new PairingMessageError('not unpadded base64url');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  if (b64url(bytes) !== text) throw new PairingMessageError('not canonical base64url');
  if (length !== undefined && bytes.length !== length) throw new PairingMessageError(`expected ${length} bytes, got ${bytes.length}`);
  return bytes;
}

/** Parses a JSON pairing message of the expected `type`s; throws PairingMessageError with the reason. */
export function parseMessage(raw: Uint8Array | string): HelloMessage | AnswerMessage | ConfirmMessage | ResultMessage {
  const bytes = typeof raw === 'string' ? utf8(raw) : raw;
  if (bytes.length > MAX_MESSAGE_BYTES) throw new PairingMessageError(`larger than ${MAX_MESSAGE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new PairingMessageError('not UTF-8 JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PairingMessageError('not a JSON object');
  const m = json as Record<string, unknown>;
  if (m.v !== PAIRING_VERSION) throw new PairingMessageError(`unsupported version ${String(m.v)}`);
  fromB64url(m.sid, SID_BYTES);
  switch (m.type) {
    case 'hello':
      fromB64url(m.ya, 32);
      fromB64url(m.signingKey, 32);
      if (!isValidOwnerName(m.name)) throw new PairingMessageError('name must be 1 to 64 printable characters');
      if (!isAgeRecipient(m.sealingRecipient)) throw new PairingMessageError('sealingRecipient is not an age1… recipient');
      return m as unknown as HelloMessage;
    case 'answer':
      fromB64url(m.yb, 32);
      fromB64url(m.signingKey, 32);
      fromB64url(m.tb, 64);
      if (typeof m.deviceId !== 'string' || m.deviceId.length === 0) throw new PairingMessageError('deviceId missing');
      if (!isAgeRecipient(m.sealingRecipient)) throw new PairingMessageError('sealingRecipient is not an age1… recipient');
      return m as unknown as AnswerMessage;
    case 'confirm':
      fromB64url(m.ta, 64);
      fromB64url(m.proof, 64);
      return m as unknown as ConfirmMessage;
    case 'result':
      fromB64url(m.mac, 64);
      if (m.outcome !== 'enrolled' && m.outcome !== 'aborted') throw new PairingMessageError('unknown outcome');
      return m as unknown as ResultMessage;
    default:
      throw new PairingMessageError(`unknown type ${String(m.type)}`);
  }
}

// ---- phone (initiator A) ---------------------------------------------------------------------------

export interface PhoneSession {
  sid: Uint8Array;
  ya: bigint;
  yaShare: Uint8Array;
  ada: Uint8Array;
  code: string;
  deviceId: string;
  hello: HelloMessage;
}

export interface PhoneConfirmed {
  confirm: Omit<ConfirmMessage, 'proof'>;
  /** Bytes the phone signs with its Ed25519 key; the signature goes in `confirm.proof`. */
  proofMessage: Uint8Array;
  device: DeviceKeys;
  resultKey: Uint8Array;
}

export function startPairing(code: string, deviceId: string, offer: PairingOffer, random: (length: number) => Uint8Array): PhoneSession {
  const sid = random(SID_BYTES);
  const g = calculateGenerator(utf8(code), channelIdentifier(deviceId), sid);
  const ya = sampleScalar(random);
  const yaShare = scalarMult(ya, g);
  const hello: HelloMessage = {
    v: 2,
    type: 'hello',
    sid: b64url(sid),
    ya: b64url(yaShare),
    name: offer.name,
    signingKey: b64url(offer.signingKey),
    sealingRecipient: offer.sealingRecipient,
  };
  return { sid, ya, yaShare, ada: offerData(offer), code, deviceId, hello };
}

/**
 * Checks the device's answer: its tag proves it knew the code, so the keys in it are the device's.
 * Throws PairingMessageError when the answer is for another session, from another device id, or
 * fails the tag (a wrong code, or someone in the middle).
 */
export function checkAnswer(session: PhoneSession, answer: AnswerMessage): PhoneConfirmed {
  if (answer.sid !== session.hello.sid) throw new PairingMessageError('answer to another pairing attempt');
  if (answer.deviceId !== session.deviceId) throw new PairingMessageError(`answer names device ${answer.deviceId}, not ${session.deviceId}`);
  const device: DeviceKeys = { deviceId: answer.deviceId, signingKey: fromB64url(answer.signingKey, 32), sealingRecipient: answer.sealingRecipient };
  const yb = fromB64url(answer.yb, 32);
  const k = scalarMultVfy(session.ya, yb);
  if (isIdentity(k)) throw new PairingMessageError('the device share is invalid');
  const adb = deviceData(device);
  const transcript = transcriptIr(session.yaShare, session.ada, yb, adb);
  const isk = intermediateSessionKey(session.sid, k, transcript);
  const macKey = confirmationKey(session.sid, isk);
  if (!equalBytes(confirmationTag(macKey, yb, adb), fromB64url(answer.tb, 64))) {
    throw new PairingMessageError('the answer does not prove the code: wrong code, or not the doorbell');
  }
  return {
    confirm: { v: 2, type: 'confirm', sid: session.hello.sid, ta: b64url(confirmationTag(macKey, session.yaShare, session.ada)) },
    proofMessage: proofMessage(transcript),
    device,
    resultKey: resultKey(session.sid, isk),
  };
}

/** True when the result carries the MAC only the device that answered could make. */
export function checkResult(sid: string, key: Uint8Array, result: ResultMessage): boolean {
  return result.sid === sid && equalBytes(resultMac(key, fromB64url(sid, SID_BYTES), result.outcome), fromB64url(result.mac, 64));
}

// ---- device (responder B) ----------------------------------------------------------------------------

export interface DeviceSession {
  sid: string;
  offer: PairingOffer;
  keyId: string;
  expectedTa: Uint8Array;
  proofMessage: Uint8Array;
  resultKey: Uint8Array;
}

/** Answers a hello for `code`; throws PairingMessageError for an invalid share. */
export function answerHello(
  hello: HelloMessage,
  code: string,
  device: DeviceKeys,
  random: (length: number) => Uint8Array,
): { answer: AnswerMessage; session: DeviceSession } {
  const sid = fromB64url(hello.sid, SID_BYTES);
  const offer: PairingOffer = { name: hello.name, signingKey: fromB64url(hello.signingKey, 32), sealingRecipient: hello.sealingRecipient };
  const yaShare = fromB64url(hello.ya, 32);
  const g = calculateGenerator(utf8(code), channelIdentifier(device.deviceId), sid);
  const yb = sampleScalar(random);
  const ybShare = scalarMult(yb, g);
  const k = scalarMultVfy(yb, yaShare);
  if (isIdentity(k)) throw new PairingMessageError('the phone share is invalid');
  const ada = offerData(offer);
  const adb = deviceData(device);
  const transcript = transcriptIr(yaShare, ada, ybShare, adb);
  const isk = intermediateSessionKey(sid, k, transcript);
  const macKey = confirmationKey(sid, isk);
  return {
    answer: {
      v: 2,
      type: 'answer',
      sid: hello.sid,
      yb: b64url(ybShare),
      deviceId: device.deviceId,
      signingKey: b64url(device.signingKey),
      sealingRecipient: device.sealingRecipient,
      tb: b64url(confirmationTag(macKey, ybShare, adb)),
    },
    session: {
      sid: hello.sid,
      offer,
      keyId: keyIdOf(offer.signingKey),
      expectedTa: confirmationTag(macKey, yaShare, ada),
      proofMessage: proofMessage(transcript),
      resultKey: resultKey(sid, isk),
    },
  };
}

/** A confirm is valid when its tag proves the code and its proof is signed by the offered key. */
export function checkConfirm(session: DeviceSession, confirm: ConfirmMessage): boolean {
  if (confirm.sid !== session.sid || !equalBytes(fromB64url(confirm.ta, 64), session.expectedTa)) return false;
  try {
    return ed25519.verify(fromB64url(confirm.proof, 64), session.proofMessage, session.offer.signingKey);
  } catch {
    // A signature or key that is not a valid encoding: simply not valid.
    return false;
  }
}

export function makeResult(session: DeviceSession, outcome: PairingOutcome): ResultMessage {
  return { v: 2, type: 'result', sid: session.sid, outcome, mac: b64url(resultMac(session.resultKey, fromB64url(session.sid, SID_BYTES), outcome)) };
}
