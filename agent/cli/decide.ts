/**
 * `doorbell owner approve|deny`: ask the doorbell what is pending, take the device-signed notice
 * (never an unsigned, moved or stale copy), show what will be approved in full, sign exactly that,
 * seal it to the device, and follow the request's status to its end.
 */
import type { Config } from '../config.js';
import { describeRequesterKey, destinationText, isTerminal, keyIdOf, type RequestStatus } from '../envelope/index.js';
import { readDevicePublicKeys, readOwnerKeyFile, type DevicePublicKeys } from '../owner/index.js';
import { brokerUrl } from './broker.js';
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
  opts: { requestId: string; keyFile: string; device: DevicePublicKeys; decision: 'approve' | 'deny'; clipIds?: string[]; waitSeconds: number },
): Promise<number> {
  const key = await readOwnerKeyFile(opts.keyFile);
  const session = await OwnerSession.open({ url: brokerUrl(config), prefix: config.mqtt.prefix, deviceId: config.device.id, key, device: opts.device });
  // Whatever the broker hands us that is not the device's, for this topic, fresh: said, and never used.
  session.onRefusal((r) => process.stderr.write(`refused a message on ${r.topic}: ${r.reason} (${r.detail})\n`));
  try {
    let pending: string[];
    try {
      pending = await session.ask(ANSWER_SECONDS * 1000);
    } catch {
      throw new Error(`the doorbell did not answer within ${ANSWER_SECONDS} s: is this key enrolled and not revoked? (doorbell owner list)`);
    }
    if (!pending.includes(opts.requestId)) {
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

    const bar = new ProgressBar(process.stdout, '  uploading    ', clips.reduce((n, c) => n + c.bytes, 0));
    const final = new Promise<RequestStatus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final status within ${opts.waitSeconds} s`)), opts.waitSeconds * 1000);
      // A decision the doorbell cannot attribute to an enrolled key gets no answer at all.
      const unanswered = setTimeout(() => {
        clearTimeout(timer);
        reject(new Error(`the doorbell did not answer within ${ANSWER_SECONDS} s: is this key enrolled and not revoked? (doorbell owner list)`));
      }, ANSWER_SECONDS * 1000);
      session.statuses(notice.requestId, (status) => {
        if (status.state === 'pending' && !status.detail?.startsWith('decision refused')) return;
        clearTimeout(unanswered);
        if (status.progress) bar.update(status.progress.sentBytes, status.progress.totalBytes);
        else {
          if (status.state === 'uploaded') bar.complete();
          else bar.end();
          print(`  status       ${status.state}${status.detail ? `: ${status.detail}` : ''}`);
        }
        if (isTerminal(status.state) || status.detail?.startsWith('decision refused')) {
          clearTimeout(timer);
          resolve(status);
        }
      });
    });
    await session.decide(shown, opts.decision, opts.decision === 'approve' ? clips.map((c) => c.id) : undefined);
    const status = await final;
    const wanted = opts.decision === 'approve' ? 'uploaded' : 'denied';
    return status.state === wanted ? 0 : 1;
  } finally {
    await session.close();
  }
}
