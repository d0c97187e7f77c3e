/**
 * Approval → upload complete for a ~20 MB evidence bundle on loopback: from publishing the owner's
 * signed approval to the receiver having the whole bundle (saved and verified). Baseline: `curl -T`
 * of the same bytes to the same receiver.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { MqttProbe } from './harness/mqtt.js';
import { ReceiverProcess, type ReceivedSummary } from './harness/receiver-process.js';
import { makeRequest, Owner, requestId, signRequest } from './harness/owner.js';
import { sleep } from './harness/ports.js';
import { MB, percentile, round } from './harness/stats.js';
import { row, withGoal, type BenchContext, type BenchResult } from './result.js';

export interface UploadOptions {
  runs: number;
  brokerUrl: string;
}

// 720p synthetic video is about 0.6 MB/s: a 35 s clip makes a bundle of about 20 MB.
const CAMERA = { width: 1280, height: 720, fps: 15 };
const PRE_ROLL_S = 5;
const POST_ROLL_S = 30;

export async function benchUpload(opts: UploadOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'upload');
  writeBenchConfig(folders, {
    brokerUrl: opts.brokerUrl,
    camera: { synthetic: CAMERA },
    record: { preRollSeconds: PRE_ROLL_S, postRollSeconds: POST_ROLL_S },
    requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 1000, maxPending: 1000 },
  });
  const done = new Map<string, (r: ReceivedSummary) => void>();
  const receiver = new ReceiverProcess(join(folders.dir, 'received'), (r) => done.get(r.path)?.(r));
  await receiver.start();
  const owner = new Owner();
  await owner.enroll(folders.configFile);
  const agent = new AgentProcess(folders.configFile);
  const topics = topicsFor('doorbell', 'benchdoor');
  const samples: number[] = [];
  const baseline: number[] = [];
  const warmUp: number[] = [];
  let bundleBytes = 0;
  let savedAs = '';
  let probe: MqttProbe | undefined;
  try {
    await agent.start();
    const publisher = await MqttProbe.connect(opts.brokerUrl);
    probe = publisher;
    ctx.progress(`upload: recording a ${PRE_ROLL_S + POST_ROLL_S} s clip`);
    await sleep((PRE_ROLL_S + 1) * 1000);
    await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
    await agent.waitForLog((l) => l.msg === 'clip ready', (POST_ROLL_S + 60) * 1000, 'the clip');
    const agentUpload = async (name: string): Promise<number> => {
      const id = requestId(`bench-upload-${name}`);
      const path = `/put/${id}`;
      const session = await owner.connect({ url: opts.brokerUrl, deviceId: 'benchdoor', storageDir: folders.storageDir });
      await publisher.client.publishAsync(topics.request, signRequest(makeRequest(id, receiver.url(path), 10 * 60_000)), { qos: 1 });
      const approval = await owner.sealDecision(await session.waitNotice(id, 20_000), 'approve');
      // The phone is another device: opening the doorbell's statuses must not take this machine's cores.
      await owner.close();
      const received = new Promise<ReceivedSummary>((resolve) => done.set(path, resolve));
      const approvedAt = performance.now();
      await publisher.client.publishAsync(approval.topic, approval.bytes, { qos: 1 });
      const r = await Promise.race([received, receiver.failed]);
      const ms = performance.now() - approvedAt;
      if (!r.verification?.ok) throw new Error(`bundle ${id} does not verify: ${r.verification?.problems.join('; ')}`);
      bundleBytes = r.bytes;
      savedAs = r.savedAs!;
      return ms;
    };
    const curlUpload = async (name: string): Promise<number> => {
      const path = `/put/curl-${name}`;
      const received = new Promise<ReceivedSummary>((resolve) => done.set(path, resolve));
      const began = performance.now();
      await promisify(execFile)('curl', ['-sS', '-f', '-o', '/dev/null', '-H', 'Content-Type: application/x-tar', '-T', savedAs, receiver.url(path)]);
      await Promise.race([received, receiver.failed]);
      return performance.now() - began;
    };
    // One untimed round first (it also makes the bundle curl sends): the receiver's first requests
    // compile its code, which would count against whichever contender went first.
    warmUp.push(await agentUpload('warm-up'), await curlUpload('warm-up'));
    if (readFileSync(savedAs).length !== bundleBytes) throw new Error('saved bundle differs in size from what was received');
    ctx.progress(`upload: ${opts.runs} rounds of the agent and curl -T of the same ${round(bundleBytes / MB)} MiB, in turns`);
    for (let i = 0; i < opts.runs; i++) {
      // Alternating who goes first, so neither always follows the other's after-work.
      if (i % 2 === 0) {
        samples.push(await agentUpload(String(i)));
        baseline.push(await curlUpload(String(i)));
      } else {
        baseline.push(await curlUpload(String(i)));
        samples.push(await agentUpload(String(i)));
      }
    }
  } finally {
    // Also when the run failed: a client left connected keeps reconnecting and the bench never exits.
    await probe?.close();
    await owner.close();
    await agent.stop();
    await receiver.stop();
    folders.dispose();
  }
  const bench = `Approval → upload complete, ${round(bundleBytes / MB)} MiB bundle on loopback (${opts.runs} runs)`;
  const curlVersion = /curl (\S+)/.exec(execFileSync('curl', ['--version'], { encoding: 'utf8' }))?.[1] ?? '';
  const base = `curl ${curlVersion} -T of the same bytes`;
  return {
    name: 'upload',
    rows: [
      withGoal(row(bench, 'p50', round(percentile(samples, 50)), 'ms', { name: base, value: round(percentile(baseline, 50)) }), '≤ 1.1× curl', (r) => r.ratio !== undefined && r.ratio <= 1.1),
      row(bench, 'max', round(Math.max(...samples)), 'ms', { name: base, value: round(Math.max(...baseline)) }),
    ],
    notes: [
      `Upload: from publishing the signed approval (signed and sealed beforehand, as on the phone, whose session then closes: opening the doorbell's statuses is the phone's work, not this machine's) to the receiver (a process of its own) answering 200 after saving and verifying the bundle; the agent's time includes the broker's delivery, opening and checking the decision, building and signing the bundle (reading and hashing every clip) and the destination check. curl is timed from its start to the same answer. The two take turns, who goes first alternating, after one untimed round (agent ${round(warmUp[0] ?? NaN)} ms, curl ${round(warmUp[1] ?? NaN)} ms) in which the receiver compiles its code.`,
    ],
    raw: { samples, baseline, warmUp, bundleBytes },
  };
}
