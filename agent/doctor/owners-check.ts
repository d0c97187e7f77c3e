/** Owner keys: without one enrolled, nobody can approve or deny a request. */
import { existsSync, statSync } from 'node:fs';
import { systemClock } from '../clock.js';
import { silentLogger } from '../log.js';
import { databasePath } from '../main.js';
import { fingerprint } from '../envelope/index.js';
import { OwnerRegistry, readDevicePublicKeys } from '../owner/index.js';
import { openDatabase } from '../store/database.js';
import type { CheckContext, DoctorCheck } from './types.js';

const PAIR =
  'pair your phone: open the app, hold the doorbell button for 5 s (or run `doorbell pair`) and enter the code; ' +
  'or enroll a key with `doorbell owner add --name NAME --key ED25519_B64URL --seal AGE_RECIPIENT`';

export async function checkOwners(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'owner keys';
  const file = databasePath(ctx.config);
  if (!existsSync(file)) {
    return { name, ok: false, detail: `no database yet at ${file}`, fix: 'start the agent once (sudo systemctl start doorbell), then pair' };
  }
  // Opening an SQLite database, even read-only, can create its -shm/-wal files: as root they would
  // belong to root and the agent could no longer write its own database.
  const owner = statSync(file).uid;
  if (ctx.probes.uid() === 0 && owner !== 0) {
    return {
      name,
      ok: false,
      detail: `not checked: ${file} belongs to uid ${owner}, and opening it as root could leave files the agent cannot write`,
      fix: "run doctor as the agent's user: sudo -u doorbell doorbell doctor",
    };
  }
  const db = openDatabase(file, { readonly: true });
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'owner_keys'").get() !== undefined;
    const keys = hasTable ? new OwnerRegistry({ db, clock: systemClock, log: silentLogger }).list() : [];
    const active = keys.filter((k) => k.revokedAt === null);
    if (active.length === 0) {
      const revoked = keys.length ? ` (${keys.length} revoked)` : '';
      return { name, ok: false, detail: `no owner key enrolled${revoked}: requests can only wait and expire`, fix: PAIR };
    }
    // The device's fingerprint, for the owner to compare with the one the phone shows after pairing.
    const device = readDevicePublicKeys(ctx.config.storage.dir);
    const shown = device ? `device ${fingerprint(device.keyId)}; ` : '';
    return { name, ok: true, detail: `${shown}${active.length} enrolled: ${active.map((k) => k.name).join(', ')}` };
  } finally {
    db.close();
  }
}
