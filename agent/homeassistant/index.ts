/** Home Assistant: MQTT discovery of the doorbell's entities, removed cleanly when turned off. */
import {
  DEFAULT_DISCOVERY_PREFIX,
  DEFAULT_MOTION_OFF_DELAY_SECONDS,
  discoveryMessages,
  type DiscoveryMessage,
} from './discovery.js';

export {
  DEFAULT_DISCOVERY_PREFIX,
  DEFAULT_MOTION_OFF_DELAY_SECONDS,
  discoveryMessages,
  discoveryNodeId,
  type DiscoveryIdentity,
  type DiscoveryMessage,
} from './discovery.js';

export interface HomeAssistantDiscoveryDeps {
  /** Delivered reliably (the MQTT outbox): MqttLink.publishReliable. */
  publish(topic: string, payload: string, retain: boolean): void;
  deviceId: string;
  deviceName: string;
  prefix: string;
  discoveryPrefix?: string;
  enabled: boolean;
  version: string;
  motionOffDelaySeconds?: number;
  /** The owner's choice to publish ring/motion in plaintext (config homeassistant.plaintextEvents). */
  plaintextEvents?: boolean;
  /** The owner's choice to publish the snapshot JPEG in plaintext (config homeassistant.plaintextSnapshot). */
  plaintextSnapshot?: boolean;
}

export class HomeAssistantDiscovery {
  constructor(private readonly deps: HomeAssistantDiscoveryDeps) {}

  /**
   * Enabled: publishes the retained configs (again at every start, so a changed name or version
   * reaches Home Assistant). Disabled: publishes empty retained payloads to the same topics, which
   * removes the entities. That is done at every start rather than only after a remembered publish:
   * the broker may still hold configs from an earlier install or a wiped store, and clearing a
   * topic that holds nothing costs the broker nothing. Nothing to undo at stop: the entities stay,
   * and the retained offline state marks them unavailable while the agent is away.
   */
  start(): void {
    const { publish, enabled } = this.deps;
    // An entity whose plaintext topic the owner turned off is removed like a disabled one.
    for (const message of this.messages()) {
      publish(message.topic, enabled && message.active ? JSON.stringify(message.config) : '', true);
    }
  }

  messages(): DiscoveryMessage[] {
    const d = this.deps;
    return discoveryMessages({
      deviceId: d.deviceId,
      deviceName: d.deviceName,
      prefix: d.prefix,
      discoveryPrefix: d.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX,
      version: d.version,
      motionOffDelaySeconds: d.motionOffDelaySeconds ?? DEFAULT_MOTION_OFF_DELAY_SECONDS,
      plaintextEvents: d.plaintextEvents ?? true,
      plaintextSnapshot: d.plaintextSnapshot ?? false,
    });
  }
}
