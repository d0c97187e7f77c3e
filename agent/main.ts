/**
 * The one composition root: builds every part, wires them together, and owns start and stop order.
 * Constructors elsewhere only store what they are given; the work starts here, in start().
 */
import { EventEmitter } from 'node:events';
import type { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { AuditLog, AuditProofService, type AuditEntry } from './audit/index.js';
import { Capture, locateFfmpeg } from './capture/index.js';
import { iso, systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { ControlServer } from './control/index.js';
import type { Trigger } from './events.js';
import type { Logger } from './log.js';
import {
  BrokerAccess,
  brokerSecret,
  DEVICE_SECRET_FILE,
  EmbeddedBroker,
  HOMEASSISTANT_SECRET_FILE,
  MqttLink,
  Outbox,
  topicsFor,
  type Topics,
} from './mqtt/index.js';
import { DeviceKey, DeviceSequence, Enrollment, NonceStore, OwnerChannel, OwnerRegistry, parseB64url } from './owner/index.js';
import { ownerTopics } from './envelope/index.js';
import { b64url, fromB64url, PairingWindow, readSetupCode, type PairingOpened } from './pairing/index.js';
import { RequestService, type LookupFn } from './requests/index.js';
import { PushNotifier, pushEventForAudit, VapidKey } from './push/index.js';
import { buildState, Debounced, OFFLINE_STATE } from './state.js';
import { ClipStore, type ClipRecord } from './store/index.js';
import { HomeAssistantDiscovery } from './homeassistant/index.js';
import { databaseWritable, segmentFreshness, SystemdNotifier, Watchdog } from './systemd/index.js';
import { VERSION } from './version.js';
import { openDatabase } from './store/database.js';
import { InstanceLock } from './instance-lock.js';
import { Button, Chime, MotionSensor, SimulatedGpio, StatusLed, createGpio, type Gpio } from '../hardware/index.js';

export interface AgentEvents {
  trigger: [{ trigger: Trigger; clipId: string }];
  'clip-ready': [ClipRecord];
  'clip-failed': [{ clipId: string; error: string }];
  'broker-ready': [{ url: string; wsUrl: string }];
  'web-ready': [{ url: string }];
  /** A window opened (its code, for whoever opened it: the demo's console) or closed (null). */
  pairing: [PairingOpened | null];
  /** Every audit entry as it is committed: what the demo narrates (requests, decisions, uploads, enrollments). */
  audit: [AuditEntry];
  'upload-progress': [{ requestId: string; sentBytes: number; totalBytes: number }];
}

export interface AgentOptions {
  log: Logger;
  clock?: Clock;
  /** Replaces DNS for upload destinations (tests). */
  lookup?: LookupFn;
  /** Where NOTIFY_SOCKET and WATCHDOG_USEC come from (tests pass {} so they never talk to systemd). */
  env?: NodeJS.ProcessEnv;
  /** GPIO to use instead of gpio.backend's (tests drive a SimulatedGpio's lines directly). */
  gpio?: Gpio;
  /** TLS settings for push services (tests trust their loopback push service with it). */
  pushAgent?: HttpsAgent;
}

export function controlSocketPath(config: Config): string {
  return join(config.runtime.dir, 'control.sock');
}

export function databasePath(config: Config): string {
  return join(config.storage.dir, 'doorbell.db');
}

export class Agent extends EventEmitter<AgentEvents> {
  private readonly stack: { name: string; stop: () => unknown }[] = [];
  private owners: OwnerChannel | undefined;

  constructor(
    readonly config: Config,
    private readonly opts: AgentOptions,
  ) {
    super();
  }

  async start(): Promise<void> {
    const { config, opts } = this;
    const log = opts.log;
    const clock = opts.clock ?? systemClock;
    const startedAt = clock.now();
    const deviceId = config.device.id;
    const topics = topicsFor(config.mqtt.prefix, deviceId);
    const part = (name: string): Logger => log.child({ part: name });
    if (config.requests.allowInsecureUploads || config.requests.allowPrivateDestinations) {
      log.warn('uploads to plain http or private addresses are allowed: fine for tests and a LAN, not for a doorbell on the internet');
    }

    // The folders are ours alone before anything touches them (recovery, orphans, ports).
    const lock = new InstanceLock({
      folders: [
        { what: 'storage', dir: config.storage.dir },
        { what: 'runtime', dir: config.runtime.dir },
      ],
      log: part('lock'),
    });
    await lock.start();
    this.push('lock', () => lock.stop());

    // Storage first: everything else records into it.
    const db = openDatabase(databasePath(config));
    this.push('database', () => db.close());
    const deviceKey = new DeviceKey({ dir: config.storage.dir, log: part('device-key') });
    await deviceKey.start();
    const audit = new AuditLog({ db, clock, log: part('audit'), signer: deviceKey });
    audit.start();
    this.push('audit', () => audit.stop());
    const store = new ClipStore({
      db,
      dir: config.storage.dir,
      maxBytes: config.storage.maxBytes,
      maxAgeDays: config.storage.maxAgeDays,
      clock,
      log: part('store'),
    });
    await store.start();
    this.push('store', () => store.stop());
    const owners = new OwnerRegistry({ db, clock, log: part('owners') });
    owners.start();
    const sequence = new DeviceSequence(db, part('sequence'));
    sequence.start();
    const nonces = new NonceStore({ db, clock, log: part('nonces') });
    nonces.start();
    this.push('nonces', () => nonces.stop());

    // The broker link: the embedded development broker when none is configured, where the agent
    // logs in as the device with the secret it keeps in the storage folder.
    let brokerUrl = config.mqtt.url;
    let brokerWsUrl = config.web.brokerWsUrl ?? '';
    let brokerLogin = { username: config.mqtt.username, password: config.mqtt.password };
    let embedded: EmbeddedBroker | undefined;
    if (!brokerUrl) {
      const deviceSecret = brokerSecret(config.storage.dir, DEVICE_SECRET_FILE, part('broker'));
      const { homeassistant } = config;
      const access = new BrokerAccess({
        prefix: config.mqtt.prefix,
        deviceId,
        deviceSecret,
        ...(homeassistant.enabled
          ? { homeAssistant: { secret: brokerSecret(config.storage.dir, HOMEASSISTANT_SECRET_FILE, part('broker')), discoveryPrefix: homeassistant.discoveryPrefix } }
          : {}),
        isOwner: (keyId) => owners.activeKey(keyId) !== undefined,
        now: Date.now,
      });
      const broker = new EmbeddedBroker({ options: config.mqtt.embedded, access, log: part('broker') });
      embedded = broker;
      // Pushed before start: a start that fails half-way (a port taken) still closes what it opened.
      this.push('embedded broker', () => broker.stop());
      await broker.start();
      brokerUrl = broker.url;
      brokerWsUrl ||= broker.wsUrl;
      brokerLogin = { username: 'device', password: deviceSecret };
      this.emit('broker-ready', { url: broker.url, wsUrl: broker.wsUrl });
    }
    const outbox = new Outbox({
      db,
      log: part('outbox'),
      now: () => clock.now(),
      onSetAside: ({ id, topic, attempts, error }) => {
        audit.append('outbox-set-aside', { id, topic, attempts, error });
        publishState.trigger();
      },
      onDiskRefusal: () => publishState.trigger(),
    });
    outbox.start();
    this.push('outbox', () => outbox.stop());
    const link = new MqttLink({
      options: {
        url: brokerUrl,
        ...brokerLogin,
        clientId: `doorbell-${deviceId}`,
        keepaliveSeconds: config.mqtt.keepaliveSeconds,
        will: { topic: topics.state, payload: Buffer.from(OFFLINE_STATE) },
      },
      outbox,
      log: part('mqtt'),
    });

    const ffmpeg = await locateFfmpeg(config.ffmpeg.path);
    log.info('ffmpeg found', { path: ffmpeg.ffmpeg, version: ffmpeg.version });
    const capture = new Capture({ config, ffmpeg, sink: store, clock, log: part('capture') });
    const channel = new OwnerChannel({
      topics: ownerTopics(config.mqtt.prefix, deviceId),
      device: deviceKey,
      owners,
      sequence,
      mqtt: link,
      refuse: (topic, reason, data) => audit.appendRefusal(topic, reason, data),
      clock,
      log: part('owner-channel'),
    });
    this.owners = channel;
    const requests = new RequestService({
      config,
      db,
      clips: store,
      mqtt: link,
      topics,
      owner: channel,
      audit,
      owners,
      nonces,
      device: { id: deviceId, publicKey: deviceKey.publicKey, sign: (m) => deviceKey.sign(m) },
      clock,
      log: part('requests'),
      lookup: opts.lookup,
    });
    const enrollment = new Enrollment({
      owners,
      audit,
      device: deviceKey.publicKeys,
      announce: (body) => channel.send(body),
    });
    const pairing = new PairingWindow({
      clock,
      log: part('pairing'),
      prefix: config.mqtt.prefix,
      device: () => ({ deviceId, signingKey: fromB64url(deviceKey.publicKey, 32), sealingRecipient: deviceKey.sealingRecipient }),
      // Replies matter only now: best effort, never queued in the outbox.
      publish: (topic, payload) =>
        void link.publishLatest(topic, payload, { qos: 1 }).catch((err: Error) => log.warn('pairing reply not sent', { topic, error: err.message })),
      enroll: (offer) => {
        const via = pairing.current?.setup ? 'setup-code' : 'pairing';
        const key = enrollment.enroll(offer.name, b64url(offer.signingKey), offer.sealingRecipient, via);
        log.info('owner enrolled by pairing', { keyId: key.keyId, name: key.name, via });
        return key;
      },
      audit: (type, data) => audit.append(type, data),
      refuse: (reason, data) => audit.appendRefusal(topics.pair, reason, data),
    });
    // A headless install pairs with its setup code for as long as no owner key was ever enrolled.
    const setupCode = readSetupCode(opts.env ?? process.env);
    let pairingStopped = false;
    const offerSetupCode = (): void => {
      if (!pairingStopped && setupCode && owners.list().length === 0 && !pairing.current) pairing.openSetup(setupCode);
    };
    const vapid = new VapidKey({ dir: config.storage.dir, log: part('push') });
    vapid.start();
    const push = new PushNotifier({
      settings: config.push,
      db,
      deviceId,
      deviceName: config.device.name,
      vapid,
      isActiveOwner: (keyId) => owners.activeKey(keyId) !== undefined,
      audit,
      clock,
      log: part('push'),
      httpsAgent: opts.pushAgent,
    });
    push.start();
    this.push('push', () => push.stop());
    channel.on('push-subscription', (message) => push.subscribe(message, ownerTopics(config.mqtt.prefix, deviceId).in));
    this.on('trigger', ({ trigger }) => push.notify({ kind: trigger.kind, at: iso(trigger.at) }));
    audit.onAppend((_head, entry) => {
      this.emit('audit', entry);
      const event = pushEventForAudit(entry);
      if (event) push.notify(event);
    });
    requests.on('upload-progress', (progress) => this.emit('upload-progress', progress));

    // The public retained state is device health only, republished when it changes: nothing in it,
    // nor its timing, follows requests. The audit checkpoint goes out on a fixed schedule, never per entry.
    let lastState = '';
    const publishState = new Debounced(() => {
      const camera = capture.health();
      const state = JSON.stringify(
        buildState({
          startedAt,
          camera: () => ({ ok: camera.ok, source: config.camera.source, since: camera.since, detail: camera.detail }),
          storage: () => ({ ...store.usage(), refusal: outbox.diskRefusal() }),
          outbox: () => ({ pending: outbox.pending(), setAside: outbox.setAside(), unstored: outbox.unstoredCount() }),
        }),
      );
      if (state === lastState) return;
      lastState = state;
      this.publish(link, topics.state, state, log);
    }, 250);
    // The audit checkpoint goes out at start and on a fixed schedule: never per entry, whose timing
    // would tell a broker reader when requests and decisions happen.
    const publishCheckpoint = () => this.publish(link, topics.transparency, JSON.stringify({ v: 2, checkpoint: audit.checkpoint() }), log);
    const checkpointTimer = setInterval(publishCheckpoint, config.audit.checkpointMinutes * 60_000);
    checkpointTimer.unref();
    this.push('state', () => {
      publishState.cancel();
      clearInterval(checkpointTimer);
    });
    link.onConnect(() => {
      lastState = '';
      publishState.trigger();
      publishCheckpoint();
    });

    link.start();
    this.push('mqtt', async () => {
      // A clean stop says so; the Last Will covers the unclean ones.
      await link.publishLatest(topics.state, OFFLINE_STATE, { retain: true }).catch((err: Error) =>
        log.warn('could not publish the offline state', { error: err.message }),
      );
      await link.stop();
    });
    new HomeAssistantDiscovery({
      publish: (topic, payload, retain) => link.publishReliable(topic, payload, { retain }),
      deviceId,
      deviceName: config.device.name,
      prefix: config.mqtt.prefix,
      version: VERSION,
      enabled: config.homeassistant.enabled,
      discoveryPrefix: config.homeassistant.discoveryPrefix,
      motionOffDelaySeconds: config.homeassistant.motionOffDelaySeconds,
      plaintextEvents: config.homeassistant.plaintextEvents,
      plaintextSnapshot: config.homeassistant.plaintextSnapshot,
    }).start();
    await link.subscribe(topics.pair, (_topic, payload) => {
      pairing.handle(payload);
    });
    pairing.on('closed', () => setImmediate(offerSetupCode));
    offerSetupCode();
    this.push('pairing', () => {
      // No setup window after a stop: the database may be closed by the time the callback runs.
      pairingStopped = true;
      pairing.stop();
    });
    await channel.start();
    await new AuditProofService({ audit, channel, mqtt: link, topics, clock, log: part('audit-proofs') }).start();
    await requests.start();
    this.push('requests', () => requests.stop());

    capture.on('health', () => publishState.trigger());
    // Every report keeps the clip growing; the owner hears of motion that starts after a quiet
    // rearmSeconds, and of every clip motion opens (one that continues past a clip's cap too).
    let lastVideoMotion = -Infinity;
    // Home Assistant's motion sensor turns off motionOffDelaySeconds after the last plaintext motion
    // event: while motion goes on unannounced, it hears of it again twice within that time.
    const keepOnMs = (config.homeassistant.motionOffDelaySeconds * 1000) / 2;
    let lastPlaintextMotion = -Infinity;
    capture.on('motion', ({ at, continuing }) => {
      const trigger: Trigger = { kind: 'motion', source: 'video', at };
      const { clipId, opened } = capture.trigger(trigger);
      const afterQuiet = !continuing && at - lastVideoMotion >= config.camera.motion.rearmSeconds * 1000;
      lastVideoMotion = at;
      if (opened || afterQuiet) {
        this.announce(trigger, clipId, link, topics, log);
        lastPlaintextMotion = at;
      } else if (config.homeassistant.plaintextEvents && at - lastPlaintextMotion >= keepOnMs) {
        lastPlaintextMotion = at;
        // Best effort: a sensor kept on is worth nothing once the broker is back.
        link.publishLatest(topics.event, plaintextEvent(trigger), { qos: 1 }).catch((err: Error) =>
          log.debug('motion still going on: not sent to Home Assistant', { error: err.message }),
        );
      }
    });
    capture.on('snapshot', ({ jpeg }) => {
      if (config.homeassistant.plaintextSnapshot) this.publish(link, topics.snapshot, jpeg, log, 0);
      channel.send({ kind: 'snapshot', jpeg: jpeg.toString('base64') }, { snapshot: true }).catch((err: Error) =>
        log.warn('the sealed snapshot was not sent', { error: err.message }),
      );
    });
    capture.on('clip-ready', ({ clip }) => {
      log.info('clip ready', { clipId: clip.id, seconds: (clip.end - clip.start) / 1000, bytes: clip.bytes });
      this.emit('clip-ready', clip);
      publishState.trigger();
    });
    capture.on('clip-failed', ({ clipId, error }) => {
      log.error('clip failed', { clipId, error });
      this.emit('clip-failed', { clipId, error });
    });
    await capture.start();
    this.push('capture', () => capture.stop());

    const gpio = opts.gpio ?? createGpio(config.gpio.backend, { log: part('gpio') });
    await this.startHardware(gpio, {
      ring: (trigger) => this.onTrigger(trigger, capture, link, topics, log),
      longPress: () => this.openPairing(pairing),
    }, pairing, capture);

    const appOrigins = [...config.web.origins];
    if (config.web.enabled) {
      const { MediaSource, WebServer, webAssetsDir } = await import('./web/index.js');
      let latestSnapshot: Buffer | undefined;
      capture.on('snapshot', ({ jpeg }) => (latestSnapshot = jpeg));
      const media = new MediaSource({
        deviceId,
        owner: (keyId) => {
          const key = owners.activeKey(keyId);
          const signingKey = key && parseB64url(key.publicKey);
          return key?.sealingRecipient && signingKey ? { signingKey, sealingRecipient: key.sealingRecipient } : undefined;
        },
        clipFile: (clipId) => store.get(clipId),
        snapshot: () =>
          capture.freshSnapshot().catch((err: Error) => {
            log.debug('no fresh snapshot; the latest event\'s instead', { error: err.message });
            return latestSnapshot;
          }),
        recentEvents: () =>
          store.list({ limit: 50 }).map((c) => ({
            type: c.kind,
            at: iso(c.triggeredAt),
            source: c.source,
            clipId: c.id,
            ...(c.thumbnail ? { thumbnail: `data:image/jpeg;base64,${c.thumbnail.toString('base64')}` } : {}),
          })),
        refuse: (reason, data) => audit.appendRefusal('web:media', reason, data),
        now: () => clock.now(),
        log: part('web'),
      });
      const web = new WebServer({
        media,
        listen: config.web.listen,
        tls: config.web.tls,
        staticDir: webAssetsDir(),
        // An empty broker URL makes the app ask the owner for it.
        appConfig: () => ({ deviceId, deviceName: config.device.name, prefix: config.mqtt.prefix, brokerWsUrl, pushPublicKey: vapid.publicKey }),
        log: part('web'),
      });
      await web.start();
      this.push('web', () => web.stop());
      appOrigins.push(...web.origins());
      this.emit('web-ready', { url: web.url });
    }
    // Only the phone app's pages may open the embedded broker's WebSocket from a browser.
    embedded?.allowOrigins(appOrigins);

    const control = new ControlServer({
      socketPath: controlSocketPath(config),
      log: part('control'),
      handlers: {
        sim: (args) => this.simulate(gpio, String(args.what)),
        pair: () => this.openPairing(pairing),
        'owner-add': (args) => enrollment.enroll(String(args.name), String(args.publicKey), String(args.sealingRecipient), 'cli'),
        'owner-revoke': (args) => {
          const key = enrollment.revoke(String(args.keyId));
          requests.keyRevoked(key.keyId);
          embedded?.disconnectKey(key.keyId);
          return key;
        },
        status: () => ({
          camera: capture.health(),
          storage: store.usage(),
          broker: link.status(),
          outbox: { pending: outbox.pending(), setAside: outbox.setAside(), unstored: outbox.unstoredCount() },
          pendingRequests: requests.pendingIds(),
          audit: audit.treeHead().size,
        }),
      },
    });
    await control.start();
    this.push('control', () => control.stop());

    // READY=1 once store, capture and link are up (not waiting for the broker: it may be away for
    // hours); the watchdog is fed only while capture, database and event loop are healthy.
    const notifier = new SystemdNotifier({ env: opts.env ?? process.env, log: part('systemd') });
    const { stallSeconds, connectTimeoutSeconds } = config.camera;
    const watchdog = new Watchdog({
      notifier,
      intervalMs: notifier.watchdogIntervalMs(),
      maxLagMs: 5_000,
      log: part('watchdog'),
      checks: [
        // Longer than capture's own stall detection plus its restart backoff (capped at 60 s).
        segmentFreshness({
          lastSegmentAt: () => capture.health().lastSegmentAt,
          startedAt,
          now: () => clock.now(),
          maxAgeMs: (2 * (stallSeconds + connectTimeoutSeconds) + 120) * 1000,
        }),
        databaseWritable(db, config.storage.dir),
      ],
    });
    await notifier.ready();
    await notifier.status('running');
    watchdog.start();
    this.push('watchdog', async () => {
      watchdog.stop();
      await notifier.stopping();
    });
    log.info('agent started', { device: deviceId, broker: brokerUrl, storage: config.storage.dir });
  }

  /** Stops in the reverse order of start; every part gets its chance even if one fails. */
  async stop(): Promise<void> {
    while (this.stack.length) {
      const part = this.stack.pop()!;
      try {
        await part.stop();
      } catch (err) {
        this.opts.log.error(`stopping ${part.name} failed`, { error: (err as Error).message });
      }
    }
  }

  private push(name: string, stop: () => unknown): void {
    this.stack.push({ name, stop });
  }

  private publish(link: MqttLink, topic: string, payload: string | Buffer, log: Logger, qos: 0 | 1 = 1): void {
    link.publishLatest(topic, payload, { qos, retain: true }).catch((err: Error) =>
      log.warn('publish failed', { topic, error: err.message }),
    );
  }

  private onTrigger(trigger: Trigger, capture: Capture, link: MqttLink, topics: Topics, log: Logger): void {
    // Only the clip placement (no I/O), the outbox write and the publish run here; capture's jobs follow later.
    this.announce(trigger, capture.trigger(trigger).clipId, link, topics, log);
  }

  /** The owner's event for a trigger placed in clip `clipId`, and Home Assistant's plaintext copy. */
  private announce(trigger: Trigger, clipId: string, link: MqttLink, topics: Topics, log: Logger): void {
    const event = { type: trigger.kind, at: iso(trigger.at), source: trigger.source };
    try {
      // Home Assistant's plaintext copy, readable by anyone on the broker: no clip id in it.
      if (this.config.homeassistant.plaintextEvents) link.publishReliable(topics.event, plaintextEvent(trigger));
    } catch (err) {
      // This runs in a GPIO timer: a throw (the outbox on a full disk) would end the whole agent.
      log.error('the event could not be queued for MQTT', { clipId, error: (err as Error).message });
    }
    this.owners?.send({ kind: 'event', ...event, clipId }).catch((err: Error) => log.error('the sealed event was not sent', { clipId, error: err.message }));
    log.info(trigger.kind, { source: trigger.source, clipId });
    this.emit('trigger', { trigger, clipId });
  }

  /** The code goes back to whoever opened the window (the control socket, the demo's console), never to a log. */
  private openPairing(pairing: PairingWindow): { code: string; expiresAt: string } {
    const opened = pairing.open();
    this.emit('pairing', opened);
    return { code: opened.code, expiresAt: iso(opened.expiresAt) };
  }

  private async startHardware(
    gpio: Gpio,
    on: { ring: (t: Trigger) => void; longPress: () => void },
    pairing: PairingWindow,
    capture: Capture,
  ): Promise<void> {
    const { button, pir, chime, led } = this.config.gpio;
    const chimeOut = chime ? new Chime({ output: gpio.output(chime.pin, { activeLow: chime.activeLow }), pulseMs: chime.pulseMs }) : null;
    if (chimeOut) {
      await chimeOut.start();
      this.push('chime', () => chimeOut.stop());
    }
    if (led) {
      const statusLed = new StatusLed({ output: gpio.output(led.pin, { activeLow: led.activeLow }) });
      await statusLed.start();
      this.push('led', () => statusLed.stop());
      // Pairing outranks a fault: the owner at the door needs to see the window is open.
      // A setup-code window (open until the first owner) is not shown: it would hide faults for good.
      const windowShown = (): boolean => pairing.isOpen() && !pairing.current?.setup;
      const show = (): void => statusLed.set(windowShown() ? 'pairing' : capture.health().ok ? 'ok' : 'fault');
      show();
      pairing.on('opened', show);
      pairing.on('closed', show);
      capture.on('health', show);
    }
    pairing.on('closed', () => this.emit('pairing', null));
    if (button) {
      const b = new Button({
        input: gpio.input(button.pin, { activeLow: button.activeLow }),
        debounceMs: button.debounceMs,
        longPressSeconds: button.longPressSeconds,
      });
      b.on('press', ({ at }) => {
        // The event's outbox write and publish first; the chime and everything else after.
        on.ring({ kind: 'ring', source: 'button', at });
        chimeOut?.ring();
      });
      b.on('long-press', () => on.longPress());
      await b.start();
      this.push('button', () => b.stop());
    }
    if (pir) {
      const sensor = new MotionSensor({ input: gpio.input(pir.pin, { activeLow: pir.activeLow }), rearmSeconds: pir.rearmSeconds });
      sensor.on('motion', ({ at }) => on.ring({ kind: 'motion', source: 'pir', at }));
      await sensor.start();
      this.push('pir', () => sensor.stop());
    }
  }

  private simulate(gpio: Gpio, what: string): { simulated: string } {
    if (!(gpio instanceof SimulatedGpio)) throw new Error(`gpio.backend is ${this.config.gpio.backend}: sim needs "simulated"`);
    const { button, pir } = this.config.gpio;
    if ((what === 'ring' || what === 'long-press') && !button) throw new Error('no button configured (gpio.button is null)');
    if (what === 'motion' && !pir) throw new Error('no PIR sensor configured (gpio.pir is null)');
    if (what === 'ring') void gpio.press(button!.pin, 150);
    else if (what === 'long-press') void gpio.press(button!.pin, button!.longPressSeconds * 1000 + 500);
    else if (what === 'motion') void gpio.pulse(pir!.pin, 2000);
    else throw new Error(`unknown simulation "${what}": use ring, motion or long-press`);
    return { simulated: what };
  }
}

/** Home Assistant's plaintext copy of a trigger on `P/D/event` (protocol.md "Home Assistant"): no clip id. */
function plaintextEvent(trigger: Trigger): string {
  return JSON.stringify({ v: 2, type: trigger.kind, at: iso(trigger.at), source: trigger.source });
}
