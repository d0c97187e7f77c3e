/** What the request handlers share: their dependencies and the ports to the clip store and the broker. */
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditLog } from '../audit/index.js';
import type { Topics } from '../mqtt/index.js';
import type { NonceStore, OwnerRegistry } from '../owner/index.js';
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
  publishReliable(topic: string, payload: Buffer | string, opts?: { retain?: boolean }): void;
  publishLatest(topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean; afterReliable?: boolean }): Promise<void>;
}

export interface RequestServiceDeps {
  config: Config;
  db: Db;
  clips: ClipAccess;
  mqtt: Messaging;
  topics: Topics;
  audit: AuditLog;
  owners: OwnerRegistry;
  nonces: NonceStore;
  device: { id: string; publicKey: string; sign(message: Buffer): string };
  clock: Clock;
  log: Logger;
  lookup?: LookupFn | undefined;
}

export const holderFor = (requestId: string): string => `request:${requestId}`;
