/** MQTT connections for the CLI's owner and requester tools (never the agent's own client id). */
import { randomBytes } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Config } from '../config.js';

export function brokerUrl(config: Config): string {
  return config.mqtt.url ?? `mqtt://${config.mqtt.embedded.host}:${config.mqtt.embedded.port}`;
}

export async function connectBroker(config: Config, role: string): Promise<MqttClient> {
  const url = brokerUrl(config);
  try {
    return await connectAsync(url, {
      // A unique id: two clients with one id would knock each other off forever.
      clientId: `doorbell-${role}-${randomBytes(4).toString('hex')}`,
      username: config.mqtt.username,
      password: config.mqtt.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
  } catch (err) {
    throw new Error(`cannot reach the broker at ${url}: ${(err as Error).message}`);
  }
}
