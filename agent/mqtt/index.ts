export { MqttLink, topicMatches, type LinkOptions, type LinkHealth, type MessageHandler } from './link.js';
export { Outbox, OUTBOX_LIMIT } from './outbox.js';
export { EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker.js';
export { BrokerAccess, type BrokerAccessRules, type Principal } from './broker-access.js';
export { brokerSecret, DEVICE_SECRET_FILE, HOMEASSISTANT_SECRET_FILE } from './broker-secret.js';
export { topicsFor, assertPublishable, type Topics } from './topics.js';
export { backoffMs } from './backoff.js';
