import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeAssistantDiscovery, type HomeAssistantDiscoveryDeps } from '../../agent/homeassistant/index.js';
import { startEmbeddedBroker, type TestBroker } from '../helpers/broker.js';

const IDENTITY = { deviceId: 'front.door', deviceName: 'Front door', prefix: 'doorbell', version: '0.1.0' };

function collect(enabled: boolean, extra: Partial<HomeAssistantDiscoveryDeps> = {}) {
  const published: { topic: string; payload: string; retain: boolean }[] = [];
  const discovery = new HomeAssistantDiscovery({
    ...IDENTITY,
    enabled,
    publish: (topic, payload, retain) => published.push({ topic, payload, retain }),
    ...extra,
  });
  discovery.start();
  return published;
}

const DEVICE = {
  identifiers: ['doorbell_front_door'],
  name: 'Front door',
  manufacturer: 'doorbell-agent',
  model: 'Doorbell agent',
  sw_version: '0.1.0',
};
const AVAILABILITY = [{ topic: 'doorbell/front.door/state', value_template: "{{ 'online' if value_json.online else 'offline' }}" }];
const SHARED = { device: DEVICE, origin: { name: 'doorbell-agent', sw_version: '0.1.0' }, availability: AVAILABILITY };

describe('Home Assistant discovery', () => {
  it('by default offers the ring and motion events but no snapshot: a plaintext JPEG is the owner\'s explicit choice', () => {
    const published = collect(true);
    expect(published.map((p) => [p.topic, p.payload === ''])).toEqual([
      ['homeassistant/event/doorbell_front_door/ring/config', false],
      ['homeassistant/binary_sensor/doorbell_front_door/motion/config', false],
      ['homeassistant/image/doorbell_front_door/snapshot/config', true],
      ['homeassistant/sensor/doorbell_front_door/storage/config', false],
    ]);
    const withoutEvents = collect(true, { plaintextEvents: false });
    expect(withoutEvents.filter((p) => p.payload !== '').map((p) => p.topic)).toEqual(['homeassistant/sensor/doorbell_front_door/storage/config']);
  });

  it('publishes retained configs for the ring event, motion, snapshot and storage', () => {
    const published = collect(true, { plaintextSnapshot: true });
    expect(published.map((p) => [p.topic, p.retain])).toEqual([
      ['homeassistant/event/doorbell_front_door/ring/config', true],
      ['homeassistant/binary_sensor/doorbell_front_door/motion/config', true],
      ['homeassistant/image/doorbell_front_door/snapshot/config', true],
      ['homeassistant/sensor/doorbell_front_door/storage/config', true],
    ]);
    const [ring, motion, snapshot, storage] = published.map((p) => JSON.parse(p.payload) as Record<string, unknown>);
    expect(ring).toEqual({
      unique_id: 'doorbell_front_door_ring',
      name: 'Ring',
      device_class: 'doorbell',
      event_types: ['ring'],
      state_topic: 'doorbell/front.door/event',
      value_template: '{% if value_json.type == \'ring\' %}{"event_type":"ring"}{% else %}{}{% endif %}',
      ...SHARED,
    });
    expect(motion).toEqual({
      unique_id: 'doorbell_front_door_motion',
      name: 'Motion',
      device_class: 'motion',
      state_topic: 'doorbell/front.door/event',
      value_template: "{{ 'ON' if value_json.type == 'motion' else '' }}",
      off_delay: 30,
      ...SHARED,
    });
    expect(snapshot).toEqual({
      unique_id: 'doorbell_front_door_snapshot',
      name: 'Snapshot',
      image_topic: 'doorbell/front.door/snapshot',
      content_type: 'image/jpeg',
      ...SHARED,
    });
    expect(storage).toEqual({
      unique_id: 'doorbell_front_door_storage',
      name: 'Storage used',
      state_topic: 'doorbell/front.door/state',
      value_template: '{{ value_json.storage.usedBytes if value_json.storage is defined else None }}',
      unit_of_measurement: 'B',
      device_class: 'data_size',
      state_class: 'measurement',
      entity_category: 'diagnostic',
      ...SHARED,
    });
  });

  it('follows the configured discovery prefix, topic prefix and motion off delay', () => {
    const published = collect(true, { discoveryPrefix: 'ha', prefix: 'home/doorbells', motionOffDelaySeconds: 12 });
    expect(published[0]!.topic).toBe('ha/event/home_doorbells_front_door/ring/config');
    const motion = JSON.parse(published[1]!.payload) as Record<string, unknown>;
    expect(motion.state_topic).toBe('home/doorbells/front.door/event');
    expect(motion.off_delay).toBe(12);
  });

  it('when disabled, clears the same config topics with empty retained payloads', () => {
    const enabled = collect(true);
    const disabled = collect(false);
    expect(disabled.map((p) => p.topic)).toEqual(enabled.map((p) => p.topic));
    expect(disabled.every((p) => p.payload === '' && p.retain)).toBe(true);
  });
});

describe('Home Assistant discovery through a broker', () => {
  let broker: TestBroker;
  let url: string;
  let publisher: MqttClient;

  beforeAll(async () => {
    broker = await startEmbeddedBroker();
    url = broker.url;
    publisher = await connectAsync(url, { clientId: 'ha-test-publisher', ...broker.device });
  });
  afterAll(async () => {
    await publisher.endAsync();
    await broker.stop();
  });

  /** What a Home Assistant starting now would find retained under homeassistant/#. */
  async function retainedConfigs(): Promise<Map<string, string>> {
    // The device's login: it may also round-trip the marker below.
    const client = await connectAsync(url, { clientId: `ha-test-reader-${Math.random().toString(16).slice(2)}`, ...broker.device });
    const found = new Map<string, string>();
    let lastMessageAt = Date.now();
    client.on('message', (topic, payload, packet) => {
      lastMessageAt = Date.now();
      if (packet.retain) found.set(topic, payload.toString('utf8'));
    });
    await client.subscribeAsync('homeassistant/#', { qos: 1 });
    // Retained messages follow the SUBACK, but the broker streams them on its own: a round trip on our
    // own topic can overtake the last ones, so their end is the marker and then 200 ms of quiet.
    const marker = new Promise<void>((resolve) => client.on('message', (topic) => topic === 'ha-test/marker' && resolve()));
    await client.subscribeAsync('ha-test/marker', { qos: 1 });
    await client.publishAsync('ha-test/marker', 'x', { qos: 1 });
    await marker;
    while (Date.now() - lastMessageAt < 200) await new Promise((resolve) => setTimeout(resolve, 50));
    await client.endAsync();
    return found;
  }

  async function discover(enabled: boolean): Promise<void> {
    const sent: Promise<unknown>[] = [];
    new HomeAssistantDiscovery({
      ...IDENTITY,
      enabled,
      plaintextSnapshot: true,
      publish: (topic, payload, retain) => sent.push(publisher.publishAsync(topic, payload, { qos: 1, retain })),
    }).start();
    await Promise.all(sent);
  }

  it('leaves retained configs Home Assistant finds, and removes them when turned off', async () => {
    await discover(true);
    const configs = await retainedConfigs();
    expect([...configs.keys()].sort()).toEqual([
      'homeassistant/binary_sensor/doorbell_front_door/motion/config',
      'homeassistant/event/doorbell_front_door/ring/config',
      'homeassistant/image/doorbell_front_door/snapshot/config',
      'homeassistant/sensor/doorbell_front_door/storage/config',
    ]);
    expect(JSON.parse(configs.get('homeassistant/event/doorbell_front_door/ring/config')!)).toMatchObject({ event_types: ['ring'] });

    await discover(false);
    expect((await retainedConfigs()).size).toBe(0);
  });
});
