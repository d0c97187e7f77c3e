/** The broker: reachable with the configured credentials. */
import { randomBytes } from 'node:crypto';
import { redactUrl } from '../log.js';
import type { CheckContext, DoctorCheck } from './types.js';

const TIMEOUT_MS = 5_000;

function fixFor(err: Error & { code?: unknown }, host: string): string {
  const code = err.code;
  if (code === 4 || code === 5 || /not authori[sz]ed|bad user ?name or password/i.test(err.message)) {
    return "check mqtt.username and mqtt.password, and that the broker's password file and ACL allow this device";
  }
  if (code === 'ECONNREFUSED') {
    return `nothing listens at ${host}: is the broker running (sudo systemctl status mosquitto) and is the port right?`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the broker's host name does not resolve: check mqtt.url`;
  if (/certificate|self[- ]signed|TLS|SSL/i.test(err.message)) {
    return "the broker's TLS certificate is not trusted: use a certificate from a public CA or check mqtt.url";
  }
  return 'check mqtt.url, the network, and any firewall between this device and the broker';
}

export async function checkBroker(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'broker';
  const { mqtt, device } = ctx.config;
  if (!mqtt.url) {
    return {
      name,
      ok: true,
      warning: true,
      detail: `embedded broker (development) on ${mqtt.embedded.host}:${mqtt.embedded.port}: no other device can reach it`,
      fix: 'set mqtt.url (and username/password) to your broker for a real install',
    };
  }
  const url = redactUrl(mqtt.url);
  let host = url;
  try {
    host = new URL(mqtt.url).host;
  } catch (err) {
    return { name, ok: false, detail: `mqtt.url is not a URL: ${(err as Error).message}`, fix: 'fix mqtt.url' };
  }
  try {
    await ctx.probes.connectBroker({
      url: mqtt.url,
      username: mqtt.username,
      password: mqtt.password,
      // Never the agent's own client id: the broker would disconnect the running agent.
      clientId: `doorbell-doctor-${device.id}-${randomBytes(4).toString('hex')}`,
      timeoutMs: TIMEOUT_MS,
    });
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { name, ok: false, detail: `cannot connect to ${url}: ${redactUrl(e.message)}`, fix: fixFor(e, host) };
  }
  const as = mqtt.username ? ` as ${mqtt.username}` : ' without credentials';
  return { name, ok: true, detail: `connected to ${url}${as}` };
}
