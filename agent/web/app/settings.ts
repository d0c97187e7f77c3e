/**
 * Where the doorbell is: the agent's `/config.json`, overridden by a pairing link
 * (`#ws=…&device=…&prefix=…`, e.g. from a QR code) or by the owner in Settings.
 */
import { isId } from './protocol.js';
import type { KeyValueStore } from './storage.js';

export interface ConnectionSettings {
  brokerWsUrl: string;
  deviceId: string;
  deviceName: string;
  prefix: string;
  username?: string;
  password?: string;
}

export type SettingsOverrides = Partial<ConnectionSettings>;

const OVERRIDES_KEY = 'settings';

/** `pageProtocol` is this page's `location.protocol`: an HTTPS page may not open a plain ws:// connection. */
export function settingsProblem(s: Partial<ConnectionSettings>, pageProtocol: string): string | undefined {
  if (!s.brokerWsUrl || !/^wss?:\/\/[^\s]+$/.test(s.brokerWsUrl)) return 'the broker address must be a ws:// or wss:// URL';
  if (pageProtocol === 'https:' && s.brokerWsUrl.startsWith('ws://') && !isLoopbackUrl(s.brokerWsUrl)) {
    return 'this page is served over HTTPS, so browsers only allow a wss:// broker address (see web.tls in the README)';
  }
  if (!isId(s.deviceId)) return 'the device id is 1 to 64 letters, digits, dots, dashes or underscores';
  if (!s.prefix || /[+#]/.test(s.prefix) || s.prefix.split('/').some((level) => level === '')) return 'the topic prefix is not a valid topic';
  return undefined;
}

/** Browsers treat loopback as trustworthy: ws://127.0.0.1 is not mixed content on an HTTPS page. */
function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    // Unparseable: not loopback, and the connection attempt reports what is wrong with it.
    return false;
  }
}

/** The overrides a pairing link carries in the URL fragment, or undefined when it carries none. */
export function linkOverrides(fragment: string): SettingsOverrides | undefined {
  const params = new URLSearchParams(fragment.replace(/^#/, ''));
  const overrides: SettingsOverrides = {};
  const ws = params.get('ws');
  const device = params.get('device');
  const prefix = params.get('prefix');
  const name = params.get('name');
  if (ws) overrides.brokerWsUrl = ws;
  if (device) overrides.deviceId = device;
  if (prefix) overrides.prefix = prefix;
  if (name) overrides.deviceName = name;
  return Object.keys(overrides).length ? overrides : undefined;
}

/** What the agent serving this page says; undefined when the page was not served by an agent (or it is offline). */
export async function fetchServedConfig(): Promise<Partial<ConnectionSettings> | undefined> {
  try {
    const response = await fetch('/config.json', { cache: 'no-store' });
    if (!response.ok) return undefined;
    const json = (await response.json()) as Record<string, unknown>;
    const pick = (k: string): string | undefined => (typeof json[k] === 'string' ? (json[k] as string) : undefined);
    return {
      ...(pick('brokerWsUrl') ? { brokerWsUrl: pick('brokerWsUrl') } : {}),
      ...(pick('deviceId') ? { deviceId: pick('deviceId') } : {}),
      ...(pick('deviceName') ? { deviceName: pick('deviceName') } : {}),
      ...(pick('prefix') ? { prefix: pick('prefix') } : {}),
    };
  } catch (err) {
    console.warn('no /config.json from this server', err);
    return undefined;
  }
}

export async function storedOverrides(store: KeyValueStore): Promise<SettingsOverrides> {
  return (await store.get<SettingsOverrides>(OVERRIDES_KEY)) ?? {};
}

export async function saveOverrides(store: KeyValueStore, overrides: SettingsOverrides): Promise<void> {
  await store.put(OVERRIDES_KEY, overrides);
}

export function mergeSettings(served: Partial<ConnectionSettings> | undefined, overrides: SettingsOverrides): Partial<ConnectionSettings> {
  const merged: Partial<ConnectionSettings> = { prefix: 'doorbell', ...served };
  for (const [k, v] of Object.entries(overrides) as [keyof ConnectionSettings, string | undefined][]) {
    if (v !== undefined && v !== '') merged[k] = v;
  }
  merged.deviceName ??= merged.deviceId ?? 'Doorbell';
  return merged;
}
