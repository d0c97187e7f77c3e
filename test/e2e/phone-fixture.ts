/**
 * The shared setup of the phone e2e tests: a broker, the stand-in doorbell (DeviceHarness), the
 * agent's WebServer serving a fresh build of the app with the doorbell's sealed media endpoints, and
 * Chromium; optionally one phone opened (and paired). `stop()` ends whatever `start()` got to, so a
 * setup that failed or timed out half-way still leaves nothing running.
 *
 * By default the broker is the embedded one on loopback. With `lan`, a phone opens the app as on the
 * LAN instead: Mosquitto with a plain WebSocket and a TLS WebSocket listener, the app served over
 * HTTPS (`web`, wss:// broker) and over plain http (`lan.plainWeb`, ws:// broker) at `lan.host`, which
 * Chromium resolves to loopback, with a self-signed certificate it is told to trust.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { silentLogger } from '../../agent/log.js';
import type { EmbeddedBroker } from '../../agent/mqtt/index.js';
import { WebServer } from '../../agent/web/index.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { waitForPort } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { buildPhoneApp, launchPhoneBrowser, PhoneApp } from './app-driver.js';
import { DeviceHarness, makeThumbnails } from './device-harness.js';

export const DEVICE = 'frontdoor';
export const PREFIX = 'doorbell';

export interface PhoneFixtureOptions {
  /** Prefix of the temporary folder, e.g. the test file's name. */
  name: string;
  /** Open one phone on `web` after start (`phone`). */
  openPhone?: boolean;
  /** Also pair that phone, under this name. */
  pairAs?: string;
  /** Serve as a phone on the LAN sees it: Mosquitto with TLS, the app over HTTPS and http at this host name. */
  lan?: { host: string };
}

interface LanSide {
  host: string;
  /** The app over plain http, with a ws:// broker. */
  plainWeb: WebServer;
  /** The broker's plain WebSocket address at `host`. */
  wsUrl: string;
}

export class PhoneFixture {
  dir!: string;
  /** MQTT over TCP, as the doorbell and tools connect. */
  brokerUrl!: string;
  /** The broker WebSocket address the app is configured with. */
  brokerWsUrl!: string;
  /** The device's broker login (none on the LAN's Mosquitto, which has no ACL here): what the stand-in doorbell, or a broker in the middle, logs in with. */
  brokerLogin: { username?: string; password?: string } = {};
  device!: DeviceHarness;
  /** Serves the app (over HTTPS with `lan`). */
  web!: WebServer;
  browser!: Browser;
  /** Opened with `openPhone` or `pairAs`. */
  phone!: PhoneApp;
  /** With `lan`. */
  lan!: LanSide;
  private readonly stops: (() => Promise<void> | void)[] = [];
  private embedded: EmbeddedBroker | undefined;

  constructor(private readonly opts: PhoneFixtureOptions) {}

  async start(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), `${this.opts.name}-`));
    this.dir = dir;
    this.stops.push(() => rmSync(dir, { recursive: true, force: true }));
    const staticDir = buildPhoneApp(join(dir, 'web'));
    const host = this.opts.lan?.host;
    const lanBroker = host ? await this.startLanBroker(host) : undefined;
    if (!lanBroker) await this.startEmbeddedBroker();

    const device = new DeviceHarness({ brokerUrl: this.brokerUrl, login: this.brokerLogin, prefix: PREFIX, deviceId: DEVICE, thumbnails: makeThumbnails(dir) });
    this.stops.push(() => device.stop());
    await device.start();
    this.device = device;

    if (host && lanBroker) {
      this.brokerWsUrl = lanBroker.wssUrl;
      this.web = await this.startWeb(staticDir, lanBroker.wssUrl, lanBroker.keys);
      this.lan = { host, wsUrl: lanBroker.wsUrl, plainWeb: await this.startWeb(staticDir, lanBroker.wsUrl) };
    } else {
      this.web = await this.startWeb(staticDir, this.brokerWsUrl);
      // As the agent does: only the app's own pages may open the broker's WebSocket.
      this.embedded!.allowOrigins(this.web.origins());
    }

    // The certificate is self-signed: a phone trusts it once (README); this browser is told to.
    const browser = await launchPhoneBrowser(host ? ['--ignore-certificate-errors', `--host-resolver-rules=MAP ${host} 127.0.0.1`] : []);
    this.stops.push(() => browser.close());
    this.browser = browser;

    if (this.opts.openPhone || this.opts.pairAs) {
      const phone = await PhoneApp.open(browser, this.web.url);
      this.stops.push(() => phone.close());
      this.phone = phone;
      if (this.opts.pairAs) await phone.pair(device.openPairing(), this.opts.pairAs);
    }
  }

  /**
   * A broker writer (a hostile broker, in the threat model): logged in as the device is, it reads
   * every message on the doorbell's owner topics and may publish, retain or drop anything anywhere.
   */
  async brokerWriter(): Promise<Recorder> {
    const writer = await Recorder.connect(this.brokerUrl, [`${PREFIX}/${DEVICE}/owner/#`], this.brokerLogin);
    this.stops.push(() => writer.close());
    return writer;
  }

  /** Stops, newest first, everything `start()` started. */
  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) await stop();
  }

  /** The embedded broker with the agent's access control: owners are the stand-in doorbell's enrolled keys. */
  private async startEmbeddedBroker(): Promise<void> {
    const started = await startEmbeddedBroker({ prefix: PREFIX, deviceId: DEVICE, isOwner: (keyId) => this.device?.owners.activeKey(keyId) !== undefined });
    this.stops.push(() => started.stop());
    this.embedded = started.broker;
    this.brokerUrl = started.url;
    this.brokerWsUrl = started.broker.wsUrl;
    this.brokerLogin = started.device;
  }

  private async startWeb(staticDir: string, brokerWsUrl: string, tls?: { cert: string; key: string }): Promise<WebServer> {
    const web = new WebServer({
      listen: '127.0.0.1:0',
      staticDir,
      ...(tls ? { tls } : {}),
      appConfig: () => ({ deviceId: DEVICE, deviceName: 'Front door', prefix: PREFIX, brokerWsUrl }),
      // Like the agent's: the app reads its event history from the sealed media endpoints.
      media: this.device.media(),
      log: silentLogger,
    });
    this.stops.push(() => web.stop());
    await web.start();
    return web;
  }

  /** Mosquitto with the listeners the README describes: MQTT for the doorbell, WebSockets plain and over TLS for phones. */
  private async startLanBroker(host: string): Promise<{ wsUrl: string; wssUrl: string; keys: { cert: string; key: string } }> {
    // Mosquitto, started as root, reads its files as its own user.
    chmodSync(this.dir, 0o755);
    const keys = makeCertificate(this.dir, host);
    const ports = { mqtt: await freePort(), ws: await freePort(), wss: await freePort() };
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, [
      `listener ${ports.mqtt} 127.0.0.1`,
      'allow_anonymous true',
      `listener ${ports.ws} 127.0.0.1`,
      'protocol websockets',
      `listener ${ports.wss} 127.0.0.1`,
      'protocol websockets',
      `certfile ${keys.cert}`,
      `keyfile ${keys.key}`,
      'log_dest none',
      '',
    ].join('\n'));
    const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    this.stops.push(() => stopChild(child));
    await Promise.all([waitForPort(ports.mqtt), waitForPort(ports.ws), waitForPort(ports.wss)]);
    this.brokerUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
    return { wsUrl: `ws://${host}:${ports.ws}`, wssUrl: `wss://${host}:${ports.wss}`, keys };
  }
}

/** A self-signed ECDSA P-256 certificate for `host`, as the README tells an owner to make one. */
function makeCertificate(into: string, host: string): { cert: string; key: string } {
  const cert = join(into, 'doorbell.crt');
  const key = join(into, 'doorbell.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`, '-keyout', key, '-out', cert,
  ], { stdio: 'pipe' });
  // Mosquitto, started as root, reads it as its own user.
  chmodSync(key, 0o644);
  return { cert, key };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
