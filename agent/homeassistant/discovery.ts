/**
 * Home Assistant MQTT discovery: retained config messages under `<discoveryPrefix>/<component>/
 * <node>/<object>/config` make the doorbell appear in Home Assistant by itself. Every entity reads
 * the agent's public topics (protocol.md "Home Assistant"): the health state, and the plaintext
 * event and snapshot topics the owner chose to publish. An empty retained payload on the same
 * topics removes the entities again.
 */

export interface DiscoveryIdentity {
  deviceId: string;
  deviceName: string;
  /** The agent's topic prefix (config mqtt.prefix). */
  prefix: string;
  discoveryPrefix: string;
  version: string;
  /** How long the motion sensor stays on after a motion event. */
  motionOffDelaySeconds: number;
  plaintextEvents: boolean;
  plaintextSnapshot: boolean;
}

export interface DiscoveryMessage {
  topic: string;
  config: Record<string, unknown>;
  /** False when the entity's plaintext topic is off: its config is removed instead of published. */
  active: boolean;
}

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
export const DEFAULT_MOTION_OFF_DELAY_SECONDS = 30;

/** Discovery node and object ids allow only [a-zA-Z0-9_-]; device ids may also hold dots. */
function discoveryId(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** The node id: one per device, distinct across prefixes too. */
export function discoveryNodeId(prefix: string, deviceId: string): string {
  return discoveryId(`${prefix}_${deviceId}`);
}

export function discoveryMessages(id: DiscoveryIdentity): DiscoveryMessage[] {
  const base = `${id.prefix}/${id.deviceId}`;
  const node = discoveryNodeId(id.prefix, id.deviceId);
  const stateTopic = `${base}/state`;
  const eventTopic = `${base}/event`;
  const shared = {
    device: {
      identifiers: [node],
      name: id.deviceName,
      manufacturer: 'doorbell-agent',
      model: 'Doorbell agent',
      sw_version: id.version,
    },
    origin: { name: 'doorbell-agent', sw_version: id.version },
    // The retained state says online; its Last Will says offline.
    availability: [{ topic: stateTopic, value_template: "{{ 'online' if value_json.online else 'offline' }}" }],
  };
  const entity = (component: string, object: string, config: Record<string, unknown>, active = true): DiscoveryMessage => ({
    topic: `${id.discoveryPrefix}/${component}/${node}/${object}/config`,
    config: { unique_id: `${node}_${object}`, ...config, ...shared },
    active,
  });
  return [
    // An event entity needs {"event_type": ...}; an empty object (a motion event here) is ignored.
    entity('event', 'ring', {
      name: 'Ring',
      device_class: 'doorbell',
      event_types: ['ring'],
      state_topic: eventTopic,
      value_template: "{% if value_json.type == 'ring' %}{\"event_type\":\"ring\"}{% else %}{}{% endif %}",
    }, id.plaintextEvents),
    // A binary sensor ignores an empty template result: a ring event leaves motion as it is.
    entity('binary_sensor', 'motion', {
      name: 'Motion',
      device_class: 'motion',
      state_topic: eventTopic,
      value_template: "{{ 'ON' if value_json.type == 'motion' else '' }}",
      off_delay: id.motionOffDelaySeconds,
    }, id.plaintextEvents),
    entity('image', 'snapshot', {
      name: 'Snapshot',
      image_topic: `${base}/snapshot`,
      content_type: 'image/jpeg',
    }, id.plaintextSnapshot),
    // The offline state carries no storage figures: report unknown rather than a template error.
    entity('sensor', 'storage', {
      name: 'Storage used',
      state_topic: stateTopic,
      value_template: '{{ value_json.storage.usedBytes if value_json.storage is defined else None }}',
      unit_of_measurement: 'B',
      device_class: 'data_size',
      state_class: 'measurement',
      entity_category: 'diagnostic',
    }),
  ];
}
