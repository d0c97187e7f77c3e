/**
 * Changes to owner keys go through the running agent (it is the one writer of the database); when
 * no agent runs, the CLI makes them itself, with the same audit entries and announcements (queued in
 * the outbox until the agent next connects).
 */
import { AuditLog } from '../audit/index.js';
import { systemClock } from '../clock.js';
import type { Config } from '../config.js';
import { AgentNotRunningError, sendControl } from '../control/index.js';
import { silentLogger } from '../log.js';
import { controlSocketPath } from '../main.js';
import { ownerTopics } from '../envelope/index.js';
import { Outbox } from '../mqtt/index.js';
import { DeviceKey, DeviceSequence, Enrollment, OwnerChannel, OwnerRegistry } from '../owner/index.js';
import { openCliDatabase } from './database.js';

export async function withEnrollment<T>(
  config: Config,
  viaAgent: { cmd: string; args: Record<string, unknown> },
  locally: (enrollment: Enrollment) => T,
): Promise<T | unknown> {
  try {
    return await sendControl(controlSocketPath(config), viaAgent.cmd, viaAgent.args);
  } catch (err) {
    if (!(err instanceof AgentNotRunningError)) throw err;
  }
  const db = openCliDatabase(config, { create: true });
  try {
    const clock = systemClock;
    const log = silentLogger;
    const deviceKey = new DeviceKey({ dir: config.storage.dir, log });
    await deviceKey.start();
    const audit = new AuditLog({ db, clock, log, signer: deviceKey });
    audit.start();
    const owners = new OwnerRegistry({ db, clock, log });
    owners.start();
    const outbox = new Outbox({ db, log, now: () => clock.now() });
    outbox.start();
    const sequence = new DeviceSequence(db, log);
    sequence.start();
    // The announcement is sealed here and waits in the outbox for the agent's next connection.
    const channel = new OwnerChannel({
      topics: ownerTopics(config.mqtt.prefix, config.device.id),
      device: deviceKey,
      owners,
      sequence,
      mqtt: {
        subscribe: () => Promise.resolve(),
        publishReliable: (topic, payload) => outbox.enqueue(topic, payload, { qos: 1, retain: false }),
        publishLatest: () => Promise.resolve(),
      },
      refuse: () => undefined,
      clock,
      log,
    });
    const enrollment = new Enrollment({ owners, audit, device: deviceKey.publicKeys, announce: (body) => channel.send(body) });
    const result = locally(enrollment);
    await enrollment.settled();
    audit.stop();
    return result;
  } finally {
    db.close();
  }
}
