/**
 * Enrolling and revoking owner keys with their consequences: every change is audited and announced,
 * sealed, to the owners (protocol.md "Owner channel", kind `enrollment`), whether it came from
 * pairing, a setup code or the CLI.
 */
import type { AuditLog } from '../audit/index.js';
import type { DevicePublicKeys } from './device-key.js';
import type { EnrolledVia, OwnerKey, OwnerRegistry } from './registry.js';

export interface EnrollmentAnnouncement extends Record<string, unknown> {
  kind: 'enrollment';
  keyId: string;
  name: string;
  via: EnrolledVia;
  revoked?: true;
  /** The device's own public keys, so a newly enrolled owner can check and answer what it sends. */
  device: DevicePublicKeys;
}

export interface EnrollmentDeps {
  owners: OwnerRegistry;
  audit: AuditLog;
  device: DevicePublicKeys;
  /** Seals and queues the announcement for every enrolled owner (the new one included). */
  announce(body: EnrollmentAnnouncement): Promise<unknown>;
}

export class Enrollment {
  private announcing: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: EnrollmentDeps) {}

  enroll(name: string, signingKey: string, sealingRecipient: string, via: EnrolledVia): OwnerKey {
    const key = this.deps.owners.add(name, signingKey, sealingRecipient, via);
    this.deps.audit.append('enrollment', { keyId: key.keyId, name: key.name, publicKey: key.publicKey, sealingRecipient, via });
    this.announce({ kind: 'enrollment', keyId: key.keyId, name: key.name, via, device: this.deps.device });
    return key;
  }

  revoke(keyId: string): OwnerKey {
    const key = this.deps.owners.revoke(keyId);
    this.deps.audit.append('revocation', { keyId: key.keyId, name: key.name });
    this.announce({ kind: 'enrollment', keyId: key.keyId, name: key.name, via: key.via, revoked: true, device: this.deps.device });
    return key;
  }

  /** Resolves once every announcement so far is queued (the CLI waits for it before closing the database). */
  settled(): Promise<unknown> {
    return this.announcing;
  }

  private announce(body: EnrollmentAnnouncement): void {
    const next = this.deps.announce(body);
    this.announcing = Promise.all([this.announcing, next]);
  }
}
