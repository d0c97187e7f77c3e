/**
 * The phone's side of pairing (protocol.md "Pairing"): fresh keys, then the CPace exchange with the
 * code the owner typed, over a connection of its own that reads only this key's reply topic. The
 * device's keys are accepted only from an answer that proves the code, so a broker in the middle
 * cannot substitute them; a wrong code is known as soon as the doorbell answers.
 */
import {
  b64url,
  checkAnswer,
  checkResult,
  formatCode,
  isValidOwnerName,
  keyIdOf,
  normalizeCode,
  PairingMessageError,
  pairingReplyTopic,
  parseMessage,
  startPairing,
  type AnswerMessage,
  type PhoneSession,
  type ResultMessage,
} from '../../pairing/protocol.js';
import { randomBytes, utf8, type Bytes } from './encoding.js';
import { generateOwnerKeys, ownerKey, type OwnerKey, type StoredOwnerKeys } from './keys.js';
import { BrokerConnection, type BrokerSettings } from './mqtt-client.js';

export { formatCode, isValidOwnerName, normalizeCode };

/** Hellos beyond the doorbell's guess rate are dropped unanswered: ask again this often. */
const HELLO_RETRY_MS = 3000;
/** How long to keep asking before giving up (the window itself lasts 120 s). */
const ANSWER_TIMEOUT_MS = 30_000;
/** The doorbell enrolls a few seconds after the confirmation, once no second phone confirmed. */
const RESULT_TIMEOUT_MS = 20_000;

export interface PairedDevice {
  deviceId: string;
  /** Base64url raw Ed25519 key and its keyId, as `doorbell owner list` shows it. */
  signingKey: string;
  keyId: string;
  sealingRecipient: string;
}

export interface PairingSuccess {
  keys: StoredOwnerKeys;
  keyId: string;
  device: PairedDevice;
}

/** Why a pairing failed, in words for the owner; `kind` for the screen's styling and tests. */
export class PairingFailure extends Error {
  constructor(
    readonly kind: 'wrong-code' | 'no-answer' | 'aborted' | 'no-result',
    message: string,
  ) {
    super(message);
  }
}

export interface PairingTarget {
  broker: BrokerSettings;
  prefix: string;
  deviceId: string;
  pairTopic: string;
}

/** Runs the whole exchange; `onKey` reports the new key's id as soon as it exists. */
export async function pairWithDoorbell(target: PairingTarget, code: string, name: string, onKey: (keyId: string) => void): Promise<PairingSuccess> {
  const keys = await generateOwnerKeys();
  const signer = await ownerKey(keys.signing);
  onKey(signer.keyId);
  const offer = { name, signingKey: signer.publicKeyRaw, sealingRecipient: keys.sealingRecipient };
  const inbox = new ReplyInbox();
  // The reply topics are readable only by this key: log in with it, unless the owner set broker credentials.
  const broker = target.broker.username ? target.broker : { url: target.broker.url, ...(await keyLogin(signer)) };
  const connection = new BrokerConnection(
    broker,
    [pairingReplyTopic(target.prefix, target.deviceId, signer.keyId, 'answer'), pairingReplyTopic(target.prefix, target.deviceId, signer.keyId, 'result')],
    { message: (_topic, payload) => inbox.deliver(payload), state: () => undefined, session: () => undefined },
  );
  connection.start();
  try {
    await waitUntil(() => connection.ready, ANSWER_TIMEOUT_MS, 'could not reach the doorbell’s broker');
    let session: PhoneSession | undefined;
    let answer: AnswerMessage | undefined;
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (!answer && Date.now() < deadline) {
      session = startPairing(code, target.deviceId, offer, randomBytes);
      const sid = session.hello.sid;
      // Listening before publishing: the answer can arrive before the publish is acknowledged.
      const answerWait = inbox.next((m): m is AnswerMessage => m.type === 'answer' && m.sid === sid, HELLO_RETRY_MS);
      await connection.publish(target.pairTopic, JSON.stringify(session.hello));
      answer = await answerWait;
    }
    if (!session || !answer) throw new PairingFailure('no-answer', 'The doorbell did not answer. Is its pairing window open? Open it again on the doorbell and retry.');
    let confirmed;
    try {
      confirmed = checkAnswer(session, answer);
    } catch (err) {
      if (!(err instanceof PairingMessageError)) throw err;
      throw new PairingFailure('wrong-code', 'The doorbell did not accept this code: check the digits (a new code is shown each time the window opens).');
    }
    const proof = b64url(await signer.sign(new Uint8Array(confirmed.proofMessage) as Bytes));
    const sid = session.hello.sid;
    const resultKey = confirmed.resultKey;
    const resultWait = inbox.next((m): m is ResultMessage => m.type === 'result' && m.sid === sid && checkResult(sid, resultKey, m), RESULT_TIMEOUT_MS);
    await connection.publish(target.pairTopic, JSON.stringify({ ...confirmed.confirm, proof }));
    const result = await resultWait;
    if (!result) throw new PairingFailure('no-result', 'The doorbell did not confirm the pairing. Check `doorbell owner list` on it, then retry.');
    if (result.outcome === 'aborted') {
      throw new PairingFailure('aborted', 'Another phone used the same code at the same time, so the doorbell paired neither. Open a new pairing window and retry.');
    }
    const device = confirmed.device;
    return {
      keys,
      keyId: signer.keyId,
      device: { deviceId: device.deviceId, signingKey: b64url(device.signingKey), keyId: keyIdOf(device.signingKey), sealingRecipient: device.sealingRecipient },
    };
  } finally {
    await connection.stop();
  }
}

/**
 * A key-authenticated broker login (protocol.md "Broker access"): username = base64url of the raw
 * Ed25519 key; password = `<t>.<sig>`, the signature over `doorbell-broker-auth/v2` 0x00 username
 * 0x00 client id 0x00 t. Valid for 5 minutes, far longer than a pairing takes.
 */
async function keyLogin(signer: OwnerKey): Promise<{ username: string; password: string; clientId: string }> {
  const username = b64url(signer.publicKeyRaw);
  const clientId = `owner-pair-${b64url(randomBytes(9))}`;
  const t = String(Math.floor(Date.now() / 1000));
  const signed = nulJoined(['doorbell-broker-auth/v2', username, clientId, t]);
  return { username, clientId, password: `${t}.${b64url(await signer.sign(signed))}` };
}

/** The UTF-8 strings joined by 0x00 bytes. */
function nulJoined(parts: string[]): Bytes {
  return utf8(parts.join('\u0000'));
}

/** Pairing replies as they arrive, for whoever waits for a matching one. */
class ReplyInbox {
  private readonly waiting = new Set<(message: ReturnType<typeof parseMessage>) => boolean>();

  deliver(payload: Uint8Array): void {
    let message;
    try {
      message = parseMessage(payload);
    } catch (err) {
      // Anyone may publish here (the broker is not trusted): junk is dropped, the exchange goes on.
      console.warn('ignored a malformed pairing reply', (err as Error).message);
      return;
    }
    for (const waiter of this.waiting) if (waiter(message)) return;
  }

  next<T extends ReturnType<typeof parseMessage>>(match: (m: ReturnType<typeof parseMessage>) => m is T, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const waiter = (m: ReturnType<typeof parseMessage>): boolean => {
        if (!match(m)) return false;
        done(m);
        return true;
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: T | undefined): void => {
        clearTimeout(timer);
        this.waiting.delete(waiter);
        resolve(m);
      };
      this.waiting.add(waiter);
    });
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, failure: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new PairingFailure('no-answer', `The doorbell did not answer: ${failure}.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
