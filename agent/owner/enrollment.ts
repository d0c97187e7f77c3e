/**
 * Enrolling and revoking owner keys with their consequences: every change is audited and announced
 * on `P/D/owner/paired` (PROTOCOL.md "Owner enrollment"), whether it came from pairing or the CLI.
 */
import { iso, type Clock } from '../clock.js';
import type { AuditLog } from '../audit/index.js';
import type { EnrolledVia, OwnerKey, OwnerRegistry } from './registry.js';

export interface EnrollmentDeps {
  owners: OwnerRegistry;
  audit: AuditLog;
  clock: Clock;
  devicePublicKey: string;
  /** Publishes reliably (the outbox) on the paired topic. */
  announce(payload: string): void;
}

export class Enrollment {
  constructor(private readonly deps: EnrollmentDeps) {}

  enroll(name: string, publicKey: string, via: EnrolledVia): OwnerKey {
    const key = this.deps.owners.add(name, publicKey, via);
    this.deps.audit.append('enrollment', { keyId: key.keyId, name: key.name, publicKey: key.publicKey, via });
    this.announce(key, {});
    return key;
  }

  revoke(keyId: string): OwnerKey {
    const key = this.deps.owners.revoke(keyId);
    this.deps.audit.append('revocation', { keyId: key.keyId, name: key.name });
    this.announce(key, { revoked: true });
    return key;
  }

  private announce(key: OwnerKey, extra: Record<string, unknown>): void {
    this.deps.announce(
      JSON.stringify({
        v: 1,
        keyId: key.keyId,
        name: key.name,
        at: iso(this.deps.clock.now()),
        devicePublicKey: this.deps.devicePublicKey,
        ...extra,
      }),
    );
  }
}
