/** What the request handlers share: their dependencies and the ports to the clip store and the broker. */
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditLog } from '../audit/index.js';
import type { Topics } from '../mqtt/index.js';
import type { OpenedMessage } from '../envelope/index.js';
import type { NonceStore, OwnerFields, OwnerRegistry } from '../owner/index.js';
import type { ClipRecord } from '../store/index.js';
import type { Db } from '../store/database.js';
import type { LookupFn } from './destination.js';

/** The parts of the clip store requests use. */
export interface ClipAccess {
  overlapping(from: number, to: number): ClipRecord[];
  get(id: string): ClipRecord | undefined;
  hold(holder: string, clipIds: string[]): void;
  heldBytesWith(clipIds: string[]): number;
  release(holder: string): void;
}

/** The parts of the MQTT link requests use. */
export interface Messaging {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  publishReliable(topic: string, payload: Buffer | string, opts?: { retain?: boolean; independent?: boolean }): void;
  publishLatest(topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean; afterReliable?: boolean }): Promise<void>;
}

/** The sealed owner channel (owner/channel.ts), as requests use it. */
export interface OwnerNews {
  /**
   * Signs and seals a message to every enrolled owner; undefined when there is none to read it.
   * Fields given as a function are read when the message takes its `seq`; `sealed` runs before any
   * later message is sealed.
   */
  send(
    fields: OwnerFields,
    opts?: { latest?: boolean; sealed?: (message: { plaintext: Uint8Array; sha256: string }) => void },
  ): Promise<{ plaintext: Uint8Array; sha256: string } | undefined>;
  /** The same signed plaintext again, sealed to today's owners. */
  resend(plaintext: Uint8Array): Promise<void>;
  on(kind: string, handler: (message: OpenedMessage) => void | Promise<void>): void;
  readonly inTopic: string;
}

export interface RequestServiceDeps {
  config: Config;
  db: Db;
  clips: ClipAccess;
  mqtt: Messaging;
  topics: Topics;
  owner: OwnerNews;
  audit: AuditLog;
  owners: OwnerRegistry;
  nonces: NonceStore;
  device: { id: string; publicKey: string; sign(message: Buffer): string };
  clock: Clock;
  log: Logger;
  lookup?: LookupFn | undefined;
}

export const holderFor = (requestId: string): string => `request:${requestId}`;
