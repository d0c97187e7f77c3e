/**
 * One agent under test with everything around it: its folders and config, a private broker, an
 * enrolled owner who approves or denies each request as planned, a slow evidence receiver, and the
 * ledger the checks judge the agent's files against.
 */
import { join } from 'node:path';
import type { ConfigInput } from '../../agent/config.js';
import { sendControl } from '../../agent/control/index.js';
import { topicsFor, type Topics } from '../../agent/mqtt/index.js';
import { agentFolders, writeBenchConfig, type AgentConfigParts, type AgentFolders } from '../bench/harness/agent-config.js';
import { AgentProcess } from '../bench/harness/agent-process.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { json, MqttProbe } from '../bench/harness/mqtt.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { makeRequest, Owner, RECEIPT_TOPIC, requestId, signRequest } from '../bench/harness/owner.js';
import { checkAgentFiles, newLedger, readRequestStates, type Ledger, type StoreSnapshot } from './checks.js';
import { SlowReceiver } from './slow-receiver.js';

export const DEVICE = 'chaosdoor';
export const RECEIPTS = RECEIPT_TOPIC;

export interface WorldOptions {
  name: string;
  broker: PrivateMosquitto;
  workDir: string;
  receiverBytesPerSecond: number;
  parts?: Omit<AgentConfigParts, 'brokerUrl' | 'device'>;
  device?: NonNullable<ConfigInput['device']>;
  /** Folders to use instead of fresh ones (the full-disk run mounts its own). */
  folders?: AgentFolders;
}

export class ChaosWorld {
  readonly ledger: Ledger = newLedger();
  readonly notices = new Map<string, ShownNotice>();
  /** `hold`: the notice is kept and nobody decides until decideNow(). */
  readonly intents = new Map<string, 'approve' | 'deny' | 'hold'>();
  readonly topics: Topics = topicsFor('doorbell', DEVICE);
  readonly owner = new Owner();
  readonly agent: AgentProcess;
  readonly receiver: SlowReceiver;
  probe!: MqttProbe;
  /** The requester, waiting for its receipts in a persistent session, as a requester that wants them does. */
  requester!: MqttProbe;
  private requestCount = 0;
  /** The states seen at the last check, to re-send decisions a crash swallowed. */
  lastStates = new Map<string, string>();

  private constructor(
    readonly opts: WorldOptions,
    readonly folders: AgentFolders,
  ) {
    this.agent = new AgentProcess(folders.configFile);
    this.receiver = new SlowReceiver(opts.receiverBytesPerSecond, this.owner.publicKey);
    this.agent.on('log', (l) => {
      if (l.msg === 'clip ready' && typeof l.clipId === 'string') this.ledger.seenReady.add(l.clipId);
    });
  }

  static async create(opts: WorldOptions): Promise<ChaosWorld> {
    const folders = opts.folders ?? agentFolders(opts.workDir, opts.name);
    writeBenchConfig(folders, {
      brokerUrl: opts.broker.url,
      device: { id: DEVICE, ...opts.device },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPending: 1000, maxPendingPerRequester: 1000, upload: { maxAttempts: 100 } },
      ...opts.parts,
    });
    const world = new ChaosWorld(opts, folders);
    await world.owner.enroll(folders.configFile, 'chaos owner');
    await world.connectOwner();
    await world.receiver.start();
    world.probe = await MqttProbe.connect(opts.broker.url, [world.topics.event, world.topics.state]);
    world.requester = await MqttProbe.connect(opts.broker.url, [RECEIPTS], { clean: false, clientId: `chaos-requester-${opts.name}-${process.pid}` });
    return world;
  }

  get storageDir(): string {
    return this.folders.storageDir;
  }

  ring(): Promise<unknown> {
    return sendControl(join(this.folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
  }

  /** Publishes a request for the last `windowMs`, to be approved or denied when its notice comes. */
  async sendRequest(intent: 'approve' | 'deny' | 'hold', windowMs = 60_000, uploadUrl?: (id: string) => string): Promise<string> {
    const id = requestId(`${this.opts.name}-${++this.requestCount}`);
    this.intents.set(id, intent);
    const request = makeRequest(id, uploadUrl?.(id) ?? this.receiver.url(`/put/${id}`), windowMs, { replyTo: RECEIPTS });
    if (!this.owner.session?.synced) await this.owner.session?.ask();
    await this.probe.client.publishAsync(this.topics.request, signRequest(request), { qos: 1 });
    return id;
  }

  /** Decisions published while the agent was down are lost with its session: the owner sends them again. */
  async resendDecisions(): Promise<number> {
    let sent = 0;
    for (const [id, notice] of this.notices) {
      if (this.intents.get(id) !== 'hold' && this.lastStates.get(id) === 'pending') {
        await this.decide(notice);
        sent++;
      }
    }
    return sent;
  }

  check(): { violations: string[]; snapshot: StoreSnapshot } {
    const result = checkAgentFiles(this.storageDir, this.ledger, this.receiver.deliveries);
    this.lastStates = result.snapshot.states;
    return result;
  }

  async dispose(): Promise<void> {
    await this.agent.stop();
    await this.owner.close();
    await this.probe.close();
    // The persistent session would collect later phases' receipts: it goes with its subscription.
    await this.requester.client.unsubscribeAsync(RECEIPTS).catch(() => undefined);
    await this.requester.close();
    await this.receiver.stop();
    if (!this.opts.folders) this.folders.dispose();
  }

  /**
   * The owner logs in once the agent has made its keys (its first start), and stays: after a broker
   * or agent restart it logs in again and asks what is pending, as the phone app does.
   */
  private async connectOwner(): Promise<void> {
    // Enrolling made the device's keys; the agent itself is not up yet, so nothing to ask so far.
    const session = await this.owner.connect({ url: this.opts.broker.url, deviceId: DEVICE, storageDir: this.storageDir, reconnect: true, ask: false });
    session.onMessage((m) => {
      if (m.kind !== 'notice' && m.kind !== 'pending') return;
      for (const id of this.intents.keys()) {
        const shown = session.shown(id);
        if (!shown || this.notices.get(id)?.sha256 === shown.sha256) continue;
        this.notices.set(id, shown);
        if (this.intents.get(id) === 'hold') continue;
        this.decide(shown).catch((err: Error) => process.stderr.write(`chaos: decision for ${id} not sent: ${err.message}\n`));
      }
    });
  }

  /** Resolves when the agent announces itself online (a live, not retained, state) after `since`. */
  async agentOnline(since: number, timeoutMs = 60_000): Promise<void> {
    await this.probe.waitFor(
      (m) => m.topic === this.topics.state && !m.retain && m.receivedAt > since && json(m).online === true,
      timeoutMs,
      'the agent to be online again',
    );
  }

  /** The owner decides a held request now. */
  async decideNow(requestId: string, intent: 'approve' | 'deny'): Promise<void> {
    const notice = this.notices.get(requestId);
    if (!notice) throw new Error(`no notice for ${requestId} yet`);
    this.intents.set(requestId, intent);
    await this.decide(notice);
  }

  /** The state of a request in the agent's database (read while it runs; WAL lets a reader in). */
  stateOf(requestId: string): string | undefined {
    return readRequestStates(this.storageDir).get(requestId);
  }

  /** Request states while the agent runs; also what resendDecisions() goes by. */
  readStates(): Map<string, string> {
    this.lastStates = readRequestStates(this.storageDir);
    return this.lastStates;
  }

  private async decide(shown: ShownNotice): Promise<void> {
    const id = shown.notice.requestId;
    const intent = this.intents.get(id);
    if (intent !== 'approve' && intent !== 'deny') return;
    // Recorded before it is sent: from here on the owner has approved (or denied) it.
    (intent === 'approve' ? this.ledger.approved : this.ledger.denied).add(id);
    await this.owner.decide(shown, intent);
  }
}
