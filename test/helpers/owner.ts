/**
 * An owner in tests, speaking protocol v2 like the CLI does (agent/cli/owner-session.ts): its two
 * keys in a key file, enrolled on the agent, logged in to the broker with its key, reading only what
 * the device signed and sealed to it, and sealing its decisions to the device.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnerSession, type ShownNotice } from '../../agent/cli/owner-session.js';
import { isTerminal, type DecisionBody, type OpenedMessage, type RequestStatus } from '../../agent/envelope/index.js';
import { generateOwnerKeyFile, readDevicePublicKeys, type DevicePublicKeys, type OwnerKeyFile } from '../../agent/owner/index.js';
import type { Config } from '../../agent/config.js';
import type { IClientOptions } from 'mqtt';

interface AgentLike {
  config: Config;
  brokerUrl: string;
  control(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
}

export class TestOwner {
  readonly messages: OpenedMessage[] = [];

  private constructor(
    readonly key: OwnerKeyFile,
    public session: OwnerSession,
    private readonly where: { prefix: string; deviceId: string; device: DevicePublicKeys },
  ) {
    session.onMessage((m) => this.messages.push(m));
  }

  /** A new session with the same key (after the broker went away), which asks again. */
  async reconnect(url: string): Promise<void> {
    await this.session.close();
    this.session = await OwnerSession.open({ url, key: this.key, ...this.where });
    this.session.onMessage((m) => this.messages.push(m));
    await this.session.ask();
  }

  /** A new key pair; enrolled through the agent's control socket unless `enroll` is false. */
  static async create(t: AgentLike, opts: { name?: string; enroll?: boolean; brokerUrl?: string } = {}): Promise<TestOwner> {
    const key = await newOwnerKeyFile();
    if (opts.enroll !== false) {
      await t.control('owner-add', { name: opts.name ?? 'Alice', publicKey: key.signingKey, sealingRecipient: key.sealingRecipient });
    }
    const device = readDevicePublicKeys(t.config.storage.dir);
    if (!device) throw new Error('the agent has no device keys yet');
    const session = await OwnerSession.open({ url: opts.brokerUrl ?? t.brokerUrl, prefix: t.config.mqtt.prefix, deviceId: t.config.device.id, key, device });
    const owner = new TestOwner(key, session, { prefix: t.config.mqtt.prefix, deviceId: t.config.device.id, device });
    // The baseline answer: notices sent after it are shown, older copies never.
    if (opts.enroll !== false) await session.ask();
    return owner;
  }

  get keyId(): string {
    return this.key.keyId;
  }

  get publicKey(): string {
    return this.key.signingKey;
  }

  notice(requestId: string, timeoutMs = 20_000): Promise<ShownNotice> {
    return this.session.waitNotice(requestId, timeoutMs);
  }

  decide(shown: ShownNotice, decision: 'approve' | 'deny' | 'cancel', opts: { clipIds?: string[]; edit?: (d: DecisionBody) => DecisionBody } = {}): Promise<DecisionBody> {
    return this.session.decide(shown, decision, opts.clipIds, opts.edit);
  }

  /** The first status of `requestId` (seen already or still to come) that `match` accepts. */
  status(requestId: string, match: (s: RequestStatus) => boolean = (s) => isTerminal(s.state), timeoutMs = 30_000): Promise<RequestStatus> {
    const find = (m: OpenedMessage): boolean =>
      m.kind === 'status' && m.body.requestId === requestId && match(m.body as unknown as RequestStatus);
    const seen = this.messages.find(find);
    if (seen) return Promise.resolve(seen.body as unknown as RequestStatus);
    return this.session.waitFor(find, timeoutMs, `a matching status of ${requestId}`).then((m) => m.body as unknown as RequestStatus);
  }

  /** The first message (seen already or still to come) that `match` accepts. */
  message(match: (m: OpenedMessage) => boolean, what: string, timeoutMs = 20_000): Promise<OpenedMessage> {
    const seen = this.messages.find(match);
    return seen ? Promise.resolve(seen) : this.session.waitFor(match, timeoutMs, what);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

/**
 * Broker login as the device itself (the embedded broker's `device` role, with the secret the agent
 * keeps in `storage.dir/broker-secret`; none on a broker the agent did not start): tests that play a
 * broker writer use it to put forged, moved or replayed messages where only the ACL would have
 * stopped them, proving the device and the owners refuse them anyway.
 */
export function deviceLogin(t: { config: { storage: { dir: string } } }): IClientOptions {
  const file = join(t.config.storage.dir, 'broker-secret');
  return existsSync(file) ? { username: 'device', password: readFileSync(file, 'utf8').trim() } : {};
}

/** Home Assistant's broker login on the embedded broker (`storage.dir/broker-secret-homeassistant`): it reads the plaintext topics. */
export function homeAssistantLogin(t: { config: Config }): IClientOptions {
  return { username: 'homeassistant', password: readFileSync(join(t.config.storage.dir, 'broker-secret-homeassistant'), 'utf8').trim() };
}

/** A new owner key pair in a key file of its own, not enrolled (a stranger's, or one to revoke). */
export function newOwnerKeyFile(): Promise<OwnerKeyFile> {
  return generateOwnerKeyFile(join(mkdtempSync(join(tmpdir(), 'owner-key-')), 'owner.key'));
}
