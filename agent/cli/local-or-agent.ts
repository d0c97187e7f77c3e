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
import { Outbox, topicsFor } from '../mqtt/index.js';
import { DeviceKey, Enrollment, OwnerRegistry } from '../owner/index.js';
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
    deviceKey.start();
    const audit = new AuditLog({ db, clock, log, signer: deviceKey });
    audit.start();
    const owners = new OwnerRegistry({ db, clock, log });
    owners.start();
    const outbox = new Outbox({ db, log, now: () => clock.now() });
    outbox.start();
    const paired = topicsFor(config.mqtt.prefix, config.device.id).paired;
    const enrollment = new Enrollment({
      owners,
      audit,
      clock,
      devicePublicKey: deviceKey.publicKey,
      announce: (payload) => outbox.enqueue(paired, Buffer.from(payload), { qos: 1, retain: false }),
    });
    const result = locally(enrollment);
    audit.stop();
    return result;
  } finally {
    db.close();
  }
}
