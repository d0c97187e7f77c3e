/** MQTT connections for the CLI's owner and requester tools (never the agent's own client id). */
import { randomBytes, sign } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Config } from '../config.js';
import { sendWithoutDelay } from '../mqtt/no-delay.js';
import { b64url, brokerPassword } from '../envelope/index.js';
import type { OwnerKeyPair } from '../owner/index.js';

export function brokerUrl(config: Config): string {
  return config.mqtt.url ?? `mqtt://${config.mqtt.embedded.host}:${config.mqtt.embedded.port}`;
}

/**
 * The user and password the config names for an external broker (Mosquitto with a password file
 * cannot check key logins), or none: then tools log in with their key, as the embedded broker wants.
 */
export function configuredLogin(config: Config): { username?: string; password?: string } {
  return config.mqtt.url ? { username: config.mqtt.username, password: config.mqtt.password } : {};
}

/**
 * Logs in with the configured credentials; on the embedded broker, with `key` when given (a
 * key-authenticated client, which may read its own `requesters/{keyId}/…`), else anonymously.
 */
export async function connectBroker(config: Config, role: string, key?: OwnerKeyPair): Promise<MqttClient> {
  const url = brokerUrl(config);
  // A unique id: two clients with one id would knock each other off forever.
  const clientId = `doorbell-${role}-${randomBytes(4).toString('hex')}`;
  const signer = key && { keyId: key.keyId, sign: (m: Uint8Array) => new Uint8Array(sign(null, m, key.privateKey)) };
  const login =
    signer && !config.mqtt.url
      ? { username: b64url(key.publicKeyRaw), password: await brokerPassword(signer, b64url(key.publicKeyRaw), clientId, Date.now()) }
      : configuredLogin(config);
  try {
    return sendWithoutDelay(await connectAsync(url, { clientId, ...login, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }));
  } catch (err) {
    throw new Error(`cannot reach the broker at ${url}: ${(err as Error).message}`);
  }
}
