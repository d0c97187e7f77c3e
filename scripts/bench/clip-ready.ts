/**
 * Ring → clip ready, beyond the post-roll: from the press plus `record.postRollSeconds` to the agent
 * logging the clip stored (joined, thumbnailed, hashed, fsynced, indexed), recording the loopback
 * RTSP camera's 1080p main stream. A recorder cannot do better than waiting for the segment that
 * holds the clip's last moment to close, which happens at the next keyframe: on average half a
 * keyframe interval, at worst one. The baseline is that interval (one GOP).
 */
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { json, MqttProbe } from './harness/mqtt.js';
import { sleep } from './harness/ports.js';
import { percentile, round } from './harness/stats.js';
import { MAIN_STREAM } from './recording.js';
import { row, withGoal, type BenchContext, type BenchResult } from './result.js';
import { RtspServer, rtspServerUnavailable, streamFile } from './rtsp-server.js';

export interface ClipReadyOptions {
  rings: number;
  brokerUrl: string;
}

const PRE_ROLL_S = 2;
const POST_ROLL_S = 3;
const SEGMENT_S = 1;
const GOP_MS = (MAIN_STREAM.gopSeconds ?? 1) * 1000;

export async function benchClipReady(opts: ClipReadyOptions, ctx: BenchContext): Promise<BenchResult> {
  const unavailable = rtspServerUnavailable();
  if (unavailable) throw new Error(`clip-ready needs the loopback RTSP camera: ${unavailable}`);
  const server = new RtspServer(streamFile({ ...MAIN_STREAM, seconds: opts.rings * 10 + 120 }));
  const folders = agentFolders(ctx.workDir, 'clipready');
  const agent = new AgentProcess(folders.configFile);
  const topics = topicsFor('doorbell', 'benchdoor');
  const samples: number[] = [];
  let probe: MqttProbe | undefined;
  try {
    await server.start();
    writeBenchConfig(folders, {
      brokerUrl: opts.brokerUrl,
      camera: { source: 'rtsp', rtsp: { url: server.url } },
      record: { preRollSeconds: PRE_ROLL_S, postRollSeconds: POST_ROLL_S, segmentSeconds: SEGMENT_S },
    });
    await agent.start();
    probe = await MqttProbe.connect(opts.brokerUrl, [topics.event]);
    await sleep((PRE_ROLL_S + 3) * 1000); // a full pre-roll in the ring before the first press
    ctx.progress(`ring → clip ready: ${opts.rings} rings`);
    for (let i = 0; i < opts.rings; i++) {
      probe.messages.length = 0;
      // The plaintext event carries no clip id (protocol v2); the agent's own log line of the ring does.
      const rang = agent.waitForLog((l) => l.msg === 'ring' && typeof l.clipId === 'string', 10_000, `the ring ${i} in the log`);
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      const event = json(await probe.waitFor((m) => m.topic === topics.event, 10_000, `event ${i}`));
      const { clipId } = await rang;
      const ready = await agent.waitForLog((l) => l.msg === 'clip ready' && l.clipId === clipId, 60_000, `clip ${String(clipId)}`);
      samples.push(Date.parse(ready.time) - (Date.parse(String(event.at)) + POST_ROLL_S * 1000));
      // Off the keyframe grid, so the rings sample every phase of it; and past the clip, so the next opens a new one.
      await sleep(1000 + Math.random() * GOP_MS);
    }
  } finally {
    // Also when the run failed: a client left connected keeps reconnecting and the bench never exits.
    await probe?.close();
    await agent.stop();
    folders.dispose();
    await server.stop();
  }
  const bench = `Ring → clip ready beyond the post-roll (${opts.rings} rings, ${PRE_ROLL_S} s + ${POST_ROLL_S} s clips, RTSP ${MAIN_STREAM.width}x${MAIN_STREAM.height}, keyframe every ${GOP_MS / 1000} s)`;
  const base = 'one keyframe interval (GOP): the wait for the closing segment at worst';
  return {
    name: 'clip-ready',
    rows: [
      withGoal(row(bench, 'p50', round(percentile(samples, 50)), 'ms', { name: base, value: GOP_MS }), `≤ one GOP + 300 ms (${GOP_MS + 300} ms)`, (r) => r.value <= GOP_MS + 300),
      row(bench, 'p99', round(percentile(samples, 99)), 'ms', { name: base, value: GOP_MS }),
    ],
    notes: [
      'Clip ready: from the press time + post-roll to the agent\'s "clip ready" log line (the segment holding the clip\'s end closed at the next keyframe, then the clip joined, thumbnailed, hashed, fsynced and indexed).',
    ],
    raw: { samples },
  };
}
