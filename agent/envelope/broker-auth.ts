/**
 * Key-authenticated broker login (protocol.md "Broker access"): the username is the client's raw
 * Ed25519 key in base64url, the password `<t>.<sig>` signs a domain tag, that username, the client
 * id and the time, so it proves possession of the key and goes stale within minutes.
 */
import { concatBytes as concat } from '../tlog/index.js';
import { b64url, fromB64url, utf8 } from './bytes.js';
import { verifyEd25519, type Signer } from './envelope.js';

export const BROKER_AUTH_TAG = 'doorbell-broker-auth/v2';
export const BROKER_AUTH_WINDOW_S = 300;

function challenge(username: string, clientId: string, t: string): Uint8Array {
  const zero = new Uint8Array([0]);
  return concat(utf8(BROKER_AUTH_TAG), zero, utf8(username), zero, utf8(clientId), zero, utf8(t));
}

export async function brokerPassword(signer: Signer, username: string, clientId: string, nowMs: number): Promise<string> {
  const t = String(Math.floor(nowMs / 1000));
  return `${t}.${b64url(await signer.sign(challenge(username, clientId, t)))}`;
}

/** The raw key the password proves, or undefined (bad form, stale time, or a signature that fails). */
export function checkBrokerPassword(username: string, password: string, clientId: string, nowMs: number): Uint8Array | undefined {
  const key = fromB64url(username);
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{86})$/.exec(password);
  const sig = match && fromB64url(match[2]);
  if (!key || key.length !== 32 || !match || !sig) return undefined;
  if (Math.abs(nowMs / 1000 - Number(match[1])) > BROKER_AUTH_WINDOW_S) return undefined;
  return verifyEd25519(key, challenge(username, clientId, match[1]!), sig) ? key : undefined;
}
