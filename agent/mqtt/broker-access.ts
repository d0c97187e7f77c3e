/**
 * Who may do what on the embedded broker (protocol.md "Broker access"). A login becomes a principal
 * (the device, Home Assistant, a key-authenticated client or anonymous); every publish, subscription
 * and delivery is checked against that principal's topics when it happens, so a key revoked while
 * connected loses its owner topics at once. A subscription is granted only when every topic its
 * filter can match is readable: a wildcard never reaches past the topics a role may read.
 */
import { timingSafeEqual } from 'node:crypto';
import { checkBrokerPassword, keyIdOf } from '../envelope/index.js';
import { ID_PATTERN } from '../ids.js';

export type Principal =
  | { role: 'device' }
  | { role: 'homeassistant' }
  | { role: 'key'; keyId: string }
  | { role: 'anonymous' };

export interface BrokerAccessRules {
  prefix: string;
  deviceId: string;
  /** The password of username `device` (`storage.dir/broker-secret`). */
  deviceSecret: string;
  /** The password of username `homeassistant` and Home Assistant's discovery prefix; none when it is off. */
  homeAssistant?: { secret: string; discoveryPrefix: string };
  /** Whether `keyId` is an enrolled, unrevoked owner key: asked at every check, never cached. */
  isOwner(keyId: string): boolean;
  /** Wall-clock milliseconds for the key login's ±300 s window (the clients' clocks, not a test's). */
  now(): number;
}

/** A readable topic, or with `below` the topic and everything under it. */
interface Readable {
  topic: string;
  below: boolean;
}

const GEOHASH5 = /^[0-9b-hjkmnp-z]{5}$/;

export class BrokerAccess {
  private readonly base: string;

  constructor(private readonly rules: BrokerAccessRules) {
    this.base = `${rules.prefix}/${rules.deviceId}`;
  }

  /** The principal a CONNECT's credentials prove, or undefined: refuse it (bad user name or password). */
  login(username: string | undefined, password: Buffer | undefined, clientId: string): Principal | undefined {
    if (!username) return password === undefined ? { role: 'anonymous' } : undefined;
    if (username === 'device') return sameSecret(password, this.rules.deviceSecret) ? { role: 'device' } : undefined;
    const ha = this.rules.homeAssistant;
    if (ha && username === 'homeassistant') return sameSecret(password, ha.secret) ? { role: 'homeassistant' } : undefined;
    const key = checkBrokerPassword(username, password?.toString('utf8') ?? '', clientId, this.rules.now());
    return key ? { role: 'key', keyId: keyIdOf(key) } : undefined;
  }

  /**
   * Whether `newcomer` may take the client id `holder` is connected with (the broker would close the
   * holder): the device may always, anyone else only from itself, and anonymous clients never.
   */
  mayTakeOver(newcomer: Principal, holder: Principal): boolean {
    if (newcomer.role === 'device') return true;
    if (newcomer.role === 'anonymous' || newcomer.role !== holder.role) return false;
    return newcomer.role !== 'key' || (holder.role === 'key' && holder.keyId === newcomer.keyId);
  }

  mayPublish(who: Principal, topic: string): boolean {
    if (topic.startsWith('$')) return false;
    const b = this.base;
    switch (who.role) {
      case 'device':
        return true;
      case 'homeassistant':
        return topic === `${this.rules.homeAssistant?.discoveryPrefix}/status`;
      case 'anonymous':
        return topic === `${b}/pair` || this.isRequestTopic(topic);
      case 'key':
        if (topic === `${b}/pair` || this.isRequestTopic(topic)) return true;
        return (topic === `${b}/owner/in` || topic === `${b}/owner/audit/ask`) && this.rules.isOwner(who.keyId);
    }
  }

  /** For a subscription filter and for each delivery alike: a topic is a filter without wildcards. */
  mayRead(who: Principal, filter: string): boolean {
    if (who.role === 'device') return true;
    return this.readable(who).some((r) => filter === r.topic || (r.below && filter.startsWith(`${r.topic}/`)));
  }

  private readable(who: Exclude<Principal, { role: 'device' }>): Readable[] {
    const b = this.base;
    const exact = (...topics: string[]): Readable[] => topics.map((topic) => ({ topic, below: false }));
    switch (who.role) {
      case 'anonymous':
        return [];
      case 'homeassistant':
        return [...exact(`${b}/state`, `${b}/event`, `${b}/snapshot`), { topic: this.rules.homeAssistant!.discoveryPrefix, below: true }];
      case 'key': {
        const own = [
          { topic: `${b}/pair/${who.keyId}`, below: true },
          { topic: `requesters/${who.keyId}`, below: true },
        ];
        if (!this.rules.isOwner(who.keyId)) return own;
        return [...own, ...exact(`${b}/state`, `${b}/owner/out`, `${b}/owner/snapshot`, `${b}/transparency`, `${b}/owner/audit/proof`)];
      }
    }
  }

  /** `P/{device id}/request` (any device's: a requester may ask any doorbell) or `P/area/{geohash5}/request`. */
  private isRequestTopic(topic: string): boolean {
    const prefix = `${this.rules.prefix}/`;
    if (!topic.startsWith(prefix)) return false;
    const levels = topic.slice(prefix.length).split('/');
    if (levels.length === 2) return levels[1] === 'request' && ID_PATTERN.test(levels[0]!);
    return levels.length === 3 && levels[0] === 'area' && GEOHASH5.test(levels[1]!) && levels[2] === 'request';
  }
}

function sameSecret(password: Buffer | undefined, secret: string): boolean {
  const expected = Buffer.from(secret, 'utf8');
  return password !== undefined && password.length === expected.length && timingSafeEqual(password, expected);
}
