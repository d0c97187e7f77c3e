/**
 * `doorbell owner approve|deny`: ask the doorbell what is pending, take the device-signed notice
 * (never an unsigned, moved or stale copy), show what will be approved in full, sign exactly that,
 * seal it to the device, and follow the request's status to its end. A decision that gets no answer
 * is sent again, the same bytes (protocol.md "Decision").
 */
import type { Config } from '../config.js';
import { decisionRefusal, describeRequesterKey, destinationText, isTerminal, keyIdOf, MAX_DECISION_SENDS, type OpenedMessage } from '../envelope/index.js';
import { readDevicePublicKeys, readOwnerKeyFile, type DevicePublicKeys } from '../owner/index.js';
import { brokerUrl, configuredLogin } from './broker.js';
import { formatBytes, print } from './command.js';
import { OwnerSession } from './owner-session.js';
import { ProgressBar } from './progress.js';

const ANSWER_SECONDS = 15;

/** The device's public keys: given on the command line, or read from the device's own storage folder. */
export function deviceKeys(config: Config, flags: { deviceKey?: string; deviceSeal?: string }): DevicePublicKeys {
  if (flags.deviceKey && flags.deviceSeal) {
    const raw = Buffer.from(flags.deviceKey, 'base64url');
    if (raw.length !== 32) throw new Error('--device-key takes the device’s 32-byte Ed25519 key in base64url (doorbell owner list on the device)');
    return { keyId: keyIdOf(raw), signingKey: flags.deviceKey, sealingRecipient: flags.deviceSeal };
  }
  const local = readDevicePublicKeys(config.storage.dir);
  if (!local) {
    throw new Error(`no device keys in ${config.storage.dir}: on another machine pass --device-key and --device-seal (doorbell owner list on the device prints them)`);
  }
  return local;
}

export async function decide(
  config: Config,
  opts: {
    requestId: string;
    keyFile: string;
    device: DevicePublicKeys;
    decision: 'approve' | 'deny';
    clipIds?: string[];
    waitSeconds: number;
    /** Silence after a send for this long: the same decision goes again (up to three sends in all). */
    resendAfterSeconds: number;
  },
): Promise<number> {
  const key = await readOwnerKeyFile(opts.keyFile);
  const session = await OwnerSession.open({
    url: brokerUrl(config),
    login: configuredLogin(config),
    prefix: config.mqtt.prefix,
    deviceId: config.device.id,
    key,
    device: opts.device,
  });
  // Whatever the broker hands us that is not the device's, for this topic, fresh: said, and never used.
  session.onRefusal((r) => process.stderr.write(`refused a message on ${r.topic}: ${r.reason} (${r.detail})\n`));
  const copies: OpenedMessage[] = [];
  session.onMessage((m) => {
    if (m.kind === 'notice' && m.body.requestId === opts.requestId) copies.push(m);
  });
  try {
    let pending: string[];
    try {
      pending = await session.ask(ANSWER_SECONDS * 1000);
    } catch {
      throw new Error(`the doorbell did not answer within ${ANSWER_SECONDS} s: is this key enrolled and not revoked? (doorbell owner list)`);
    }
    if (!pending.includes(opts.requestId)) {
      // The doorbell's own answer is what counts: a device-signed notice it does not list is an old copy.
      for (const copy of copies) {
        process.stderr.write(`refused a notice of ${opts.requestId} on the broker: stale (seq ${copy.seq}, not listed in the doorbell's answer to this ask: an old copy replayed)\n`);
      }
      print(`request ${opts.requestId} is not waiting for a decision (the doorbell lists ${pending.length ? pending.join(', ') : 'none'})`);
      return 1;
    }
    const shown = await session.waitNotice(opts.requestId, ANSWER_SECONDS * 1000);
    const { notice } = shown;
    const clips = opts.decision === 'deny' ? [] : opts.clipIds ? notice.clips.filter((c) => opts.clipIds!.includes(c.id)) : notice.clips;
    print(`${opts.decision === 'approve' ? 'Approving' : 'Denying'} ${notice.requestId} from ${notice.requester.name} (${notice.requester.kind})`);
    print(`  device       ${opts.device.keyId.replace(/(.{4})(?=.)/g, '$1 ')} (signed this notice)`);
    print(`  requester    ${describeRequesterKey(notice.requester)}`);
    print(`  reason       ${notice.reason}`);
    print(`  destination  ${destinationText(notice.destination)}`);
    print(`  receipt to   ${notice.receiptTo ?? 'nobody (the requester asked for no receipt)'}`);
    if (opts.decision === 'approve') {
      print(`  clips        ${clips.length} of ${notice.clips.length}: ${formatBytes(clips.reduce((n, c) => n + c.bytes, 0))}`);
    }

    const sealed = await session.sealDecision(shown, opts.decision, opts.decision === 'approve' ? clips.map((c) => c.id) : undefined);
    const wanted = opts.decision === 'approve' ? 'uploaded' : 'denied';
    const bar = new ProgressBar(process.stdout, '  uploading    ', clips.reduce((n, c) => n + c.bytes, 0));
    let done!: (result: number | Error) => void;
    const outcome = new Promise<number | Error>((resolve) => (done = resolve));
    const deadline = setTimeout(() => done(new Error(`no final status within ${opts.waitSeconds} s`)), opts.waitSeconds * 1000);
    let earlierSendArrived = false;
    session.statuses(notice.requestId, (status) => {
      const refused = decisionRefusal(status);
      if (status.state === 'pending' && refused === undefined) return;
      if (status.progress) return bar.update(status.progress.sentBytes, status.progress.totalBytes);
      if (status.state === 'uploaded') bar.complete();
      else bar.end();
      if (refused === 'replayed-nonce') {
        // The answer to a copy we sent: the doorbell had this very decision already, only its answer went astray.
        if (!earlierSendArrived) print('  an earlier send of this decision had arrived (the copy was refused as a replay)');
        earlierSendArrived = true;
        print(`  status       ${status.state}`);
        if (isTerminal(status.state)) done(status.state === wanted ? 0 : 1);
        return;
      }
      print(`  status       ${status.state}${status.detail ? `: ${status.detail}` : ''}`);
      if (refused === 'request-not-pending') {
        print(`request ${notice.requestId} was no longer waiting for a decision when this one arrived (it is ${status.state}): it changed nothing`);
        return done(1);
      }
      if (refused !== undefined) return done(1);
      if (isTerminal(status.state)) done(status.state === wanted ? 0 : 1);
    });
    const resendAfter = opts.resendAfterSeconds;
    let stopResending = (): void => undefined;
    try {
      stopResending = await session.sendUntilAnswered(sealed, {
        afterMs: resendAfter * 1000,
        onResend: (sends) => print(`  no answer within ${resendAfter} s: sending the same decision again (${sends} of ${MAX_DECISION_SENDS})`),
        onSendError: (err) => process.stderr.write(`could not send the decision again: ${err.message}\n`),
        onSilent: (sends) =>
          done(
            new Error(
              `no answer to ${sends} sends of this decision within ${sends * resendAfter} s. It may still arrive (the doorbell acts on it once): ` +
                `check with \`doorbell requests show ${notice.requestId}\` on the doorbell, or in the app, before deciding again; ` +
                'if the doorbell never answers, is this key enrolled and not revoked? (doorbell owner list)',
            ),
          ),
      });
      const result = await outcome;
      if (result instanceof Error) throw result;
      return result;
    } finally {
      clearTimeout(deadline);
      stopResending();
    }
  } finally {
    await session.close();
  }
}
