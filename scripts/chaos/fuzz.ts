/**
 * Malformed input on every inbound topic (direct and area requests, decisions, pairing offers): the
 * agent must not crash, its memory must stay bounded, every message must be accounted for in the
 * audit log, nothing may be uploaded, and a valid owner approval must still go through afterwards.
 */
import { ownerTopics } from '../../agent/envelope/index.js';
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { encodeGeohash } from '../../agent/requests/index.js';
import { openDatabase } from '../../agent/store/database.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep, until } from '../bench/harness/ports.js';
import { processTree } from '../bench/harness/proc-stats.js';
import { MB } from '../bench/harness/stats.js';
import { FuzzSource, type FuzzTopic } from './fuzz-messages.js';
import type { PhaseResult } from './phase.js';
import { ChaosWorld, DEVICE } from './world.js';

export interface FuzzOptions {
  messages: number;
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

const LOCATION = { lat: 52.5163, lon: 13.3777 };
const IN_FLIGHT = 64;
/** RSS growth allowed over the agent's idle figure: the request queue alone may hold 256 messages of up to 64 KiB and more. */
const RSS_BOUND_BYTES = 256 * MB;

/** Every inbound message but an answered pairing hello ends as one audit entry or is folded into a refusal's count. */
function auditedSince(storageDir: string, afterSeq: number): { messages: number; lastSeq: number; reasons: Record<string, number> } {
  const db = openDatabase(join(storageDir, 'doorbell.db'), { readonly: true });
  try {
    let messages = 0;
    let lastSeq = afterSeq;
    const reasons: Record<string, number> = {};
    for (const { seq, entry } of db.prepare('SELECT seq, entry FROM audit_log WHERE seq > ?').iterate(afterSeq) as Iterable<{ seq: number; entry: string }>) {
      const e = JSON.parse(entry) as { type: string; count?: number; reason?: string; reasons?: Record<string, number>; state?: string };
      if (e.type === 'refusal') {
        messages += e.count ?? 1;
        for (const [reason, n] of Object.entries(e.reasons ?? { [String(e.reason)]: e.count ?? 1 })) reasons[reason] = (reasons[reason] ?? 0) + n;
      } else if (e.type === 'request') {
        messages += 1;
        reasons[`accepted as ${e.state}`] = (reasons[`accepted as ${e.state}`] ?? 0) + 1;
      }
      lastSeq = seq;
    }
    return { messages, lastSeq, reasons };
  } finally {
    db.close();
  }
}

export async function chaosFuzz(opts: FuzzOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const world = await ChaosWorld.create({
    name: 'fuzz',
    broker: opts.broker,
    workDir: opts.workDir,
    receiverBytesPerSecond: 4 * 1024 * 1024,
    device: { location: LOCATION },
    parts: { camera: { synthetic: { width: 320, height: 240, fps: 10 } }, record: { preRollSeconds: 1, postRollSeconds: 1 } },
  });
  try {
    await world.agent.start();
    await sleep(3000);
    await world.ring();
    await world.agent.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip for requests to match');
    // A real request waits for the owner through the whole flood; its approval comes afterwards.
    const waiting = await world.sendRequest('hold', 30 * 60_000);
    await until(() => world.notices.has(waiting), 30_000, `the notice for ${waiting}`);
    await sleep(5000);
    const pid = world.agent.pid;
    const rssOf = (): number => processTree(pid).find((p) => p.pid === pid)?.rssBytes ?? 0;
    const idleRss = rssOf();
    let peakRss = idleRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf())), 250);
    const startSeq = auditedSince(world.storageDir, 0).lastSeq;
    // An answered pairing hello is not a refusal and not audited: its trace is the device's answer.
    const answerTopics = `${world.topics.pair}/+/answer`;
    await world.probe.client.subscribeAsync(answerTopics, { qos: 1 });
    const isAnswer = (topic: string): boolean => topic.startsWith(`${world.topics.pair}/`) && topic.endsWith('/answer');
    const answered = (): number => world.probe.messages.filter((m) => isAnswer(m.topic)).length;
    // The pairing window lets a few offers reach the code check (five wrong ones close it).
    await sendControl(join(world.folders.runtimeDir, 'control.sock'), 'pair', {});

    const topicOf: Record<FuzzTopic, string> = {
      request: world.topics.request,
      area: world.topics.areaRequest(encodeGeohash(LOCATION.lat, LOCATION.lon, 5)),
      decision: ownerTopics('doorbell', DEVICE).in,
      pair: world.topics.pair,
    };
    const source = new FuzzSource({ device: DEVICE, uploadUrl: (id) => world.receiver.url(`/put/${id}`), location: LOCATION });
    const inFlight = new Set<Promise<unknown>>();
    let sentBytes = 0;
    opts.progress(`fuzz: ${opts.messages} messages`);
    for (let i = 0; i < opts.messages; i++) {
      const m = source.next();
      counts[`sent to ${m.topic}`] = (counts[`sent to ${m.topic}`] ?? 0) + 1;
      sentBytes += m.payload.length;
      const p = world.probe.client.publishAsync(topicOf[m.topic], m.payload, { qos: 1 }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      if (i % 10_000 === 0 && i > 0) opts.progress(`fuzz: ${i} sent, agent RSS ${Math.round(rssOf() / MB)} MiB`);
      if (!world.agent.running) break;
    }
    await Promise.all(inFlight);
    counts['payload bytes sent'] = sentBytes;

    // The agent works through its backlog; every message must show up in the audit log (or be answered, for pairing hellos).
    let audited = 0;
    let accounted = 0;
    let reasons: Record<string, number> = {};
    let lastChange = Date.now();
    await until(
      () => {
        const tally = auditedSince(world.storageDir, startSeq);
        const now = tally.messages + answered();
        reasons = tally.reasons;
        if (now !== accounted) lastChange = Date.now();
        audited = tally.messages;
        accounted = now;
        return accounted >= opts.messages || Date.now() - lastChange > 10_000 || !world.agent.running;
      },
      30 * 60_000,
      'the agent to work through the fuzz backlog',
      500,
    );
    clearInterval(sampler);
    counts['messages accounted for in the audit log'] = audited;
    counts['pairing hellos answered'] = answered();
    for (const [reason, n] of Object.entries(reasons).sort((a, b) => b[1] - a[1]).slice(0, 10)) counts[`  audited: ${reason}`] = n;
    counts['agent RSS idle (MiB)'] = Math.round(idleRss / MB);
    counts['agent RSS peak (MiB)'] = Math.round(peakRss / MB);
    counts['agent RSS after (MiB)'] = Math.round(rssOf() / MB);
    if (!world.agent.running) violations.push(`the agent crashed under fuzzing: ${world.agent.stderr.slice(-3000)}`);
    if (accounted < opts.messages) violations.push(`${opts.messages - accounted} of ${opts.messages} messages left no trace in the audit log (nor were answered pairing hellos)`);
    if (peakRss - idleRss > RSS_BOUND_BYTES) {
      violations.push(`agent memory grew by ${Math.round((peakRss - idleRss) / MB)} MiB under fuzzing (bound ${RSS_BOUND_BYTES / MB} MiB)`);
    }
    if (world.receiver.deliveries.length > 0) {
      violations.push(`${world.receiver.deliveries.length} upload(s) reached the receiver during fuzzing: ${world.receiver.deliveries.map((d) => d.path).join(', ')}`);
    }

    if (world.agent.running) {
      opts.progress('fuzz: the owner approves the request that waited through the flood');
      try {
        await world.decideNow(waiting, 'approve');
        await until(() => world.stateOf(waiting) === 'uploaded', 120_000, `${waiting} uploaded after the fuzzing`, 500);
        const got = world.receiver.deliveries.filter((d) => d.path === `/put/${waiting}` && d.complete && d.verification?.ok);
        if (got.length === 0) violations.push(`${waiting} is uploaded but no verified bundle arrived`);
      } catch (err) {
        violations.push(`a valid approval did not go through after fuzzing: ${(err as Error).message} (state ${world.stateOf(waiting)})`);
      }
      await world.agent.stop();
    }
    violations.push(...world.check().violations);
  } finally {
    await world.dispose();
  }
  return { name: 'malformed input on every inbound topic', violations, counts };
}
