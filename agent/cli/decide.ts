/** `doorbell owner approve|deny`: read the retained notice, sign, publish, follow the status to the end. */
import type { MqttClient } from 'mqtt';
import type { Config } from '../config.js';
import { topicsFor } from '../mqtt/index.js';
import { makeDecisionPayload, readKeyFile, signDecision } from '../owner/index.js';
import { connectBroker } from './broker.js';
import { formatBytes, print } from './command.js';
import { ProgressBar } from './progress.js';

interface Notice {
  requestId: string;
  requester: { name: string; kind: string; caseNumber?: string };
  reason: string;
  window: { from: string; to: string };
  destination: { host: string; urlSha256: string };
  clips: { id: string; sha256: string; bytes: number; start: string; end: string }[];
}

interface Status {
  state: string;
  detail?: string;
  progress?: { sentBytes: number; totalBytes: number };
}

const ACK_SECONDS = 15;
/** Sends of one decision without an answer before giving up (the same nonce: a copy is refused, never acted on twice). */
const SENDS = 3;
const TERMINAL = new Set(['rejected', 'no-footage', 'uploaded', 'failed', 'denied', 'expired', 'cancelled']);

function waitForRetained(client: MqttClient, topic: string, ms: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(null), ms);
    const onMessage = (t: string, payload: Buffer): void => {
      if (t === topic) done(payload.length ? payload : null);
    };
    const done = (v: Buffer | null): void => {
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(v);
    };
    client.on('message', onMessage);
  });
}

export async function decide(
  config: Config,
  opts: { requestId: string; keyFile: string; decision: 'approve' | 'deny'; clipIds?: string[]; waitSeconds: number },
): Promise<number> {
  const key = readKeyFile(opts.keyFile);
  const topics = topicsFor(config.mqtt.prefix, config.device.id);
  const client = await connectBroker(config, 'owner');
  try {
    const noticeTopic = topics.inbox(opts.requestId);
    const statusTopic = topics.status(opts.requestId);
    const retained = waitForRetained(client, noticeTopic, 5000);
    await client.subscribeAsync([noticeTopic, statusTopic], { qos: 1 });
    const raw = await retained;
    if (!raw) {
      print(`request ${opts.requestId} is not waiting for a decision (no notice on ${noticeTopic})`);
      return 1;
    }
    const notice = JSON.parse(raw.toString('utf8')) as Notice;
    let clips = notice.clips;
    if (opts.decision === 'deny') clips = [];
    else if (opts.clipIds) {
      const unknown = opts.clipIds.filter((id) => !notice.clips.some((c) => c.id === id));
      if (unknown.length) throw new Error(`not in this request: ${unknown.join(', ')}`);
      clips = notice.clips.filter((c) => opts.clipIds!.includes(c.id));
    }
    print(`${opts.decision === 'approve' ? 'Approving' : 'Denying'} ${notice.requestId} from ${notice.requester.name} (${notice.requester.kind})`);
    print(`  reason       ${notice.reason}`);
    print(`  destination  ${notice.destination.host}`);
    if (opts.decision === 'approve') {
      print(`  clips        ${clips.length} of ${notice.clips.length}: ${formatBytes(clips.reduce((n, c) => n + c.bytes, 0))}`);
    }
    const payload = makeDecisionPayload({
      device: config.device.id,
      requestId: notice.requestId,
      decision: opts.decision,
      clips: clips.map((c) => ({ id: c.id, sha256: c.sha256 })),
      urlSha256: notice.destination.urlSha256,
    });
    const envelope = signDecision(key.privateKey, key.keyId, payload);

    const bar = new ProgressBar(process.stdout, '  uploading    ', clips.reduce((n, c) => n + c.bytes, 0));
    const final = new Promise<Status>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(unanswered);
        reject(new Error(`no final status within ${opts.waitSeconds} s`));
      }, opts.waitSeconds * 1000);
      // Silence may mean the decision was lost (the doorbell was reconnecting without its session):
      // it is sent again, unchanged. A key the doorbell does not accept gets no answer at all (it
      // cannot be told apart from a forgery), so silence after the last send is the answer.
      let sends = 1;
      const unanswered = setInterval(() => {
        if (sends < SENDS) {
          sends++;
          print(`  no answer within ${ACK_SECONDS} s: sending the decision again`);
          client.publishAsync(topics.decision, JSON.stringify(envelope), { qos: 1 }).catch(() => undefined);
          return;
        }
        clearInterval(unanswered);
        clearTimeout(timer);
        reject(new Error(`the doorbell did not answer within ${ACK_SECONDS * SENDS} s: is this key enrolled and not revoked? (doorbell owner list)`));
      }, ACK_SECONDS * 1000);
      client.on('message', (topic, body, packet) => {
        // Retained copies are old news; only live statuses answer our decision.
        if (topic !== statusTopic || packet.retain || body.length === 0) return;
        const status = JSON.parse(body.toString('utf8')) as Status;
        // Our own resend after the first copy arrived: the first one counts.
        if (status.detail === 'decision refused: replayed-nonce') return;
        clearInterval(unanswered);
        if (status.progress) bar.update(status.progress.sentBytes, status.progress.totalBytes);
        else {
          if (status.state === 'uploaded') bar.complete();
          else bar.end();
          print(`  status       ${status.state}${status.detail ? `: ${status.detail}` : ''}`);
        }
        if (TERMINAL.has(status.state) || status.detail?.startsWith('decision refused')) {
          clearTimeout(timer);
          resolve(status);
        }
      });
    });
    await client.publishAsync(topics.decision, JSON.stringify(envelope), { qos: 1 });
    const status = await final;
    const wanted = opts.decision === 'approve' ? 'uploaded' : 'denied';
    return status.state === wanted ? 0 : 1;
  } finally {
    await client.endAsync();
  }
}
