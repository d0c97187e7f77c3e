/**
 * `doorbell evidence verify BUNDLE [--device-key K] [--owner-key K]`: checks an evidence bundle
 * offline and says in plain words what it proves and what it does not.
 * `doorbell evidence export REQUEST_ID DEST`: the same bundle an upload would send, written to a file
 * (or a USB stick) for a legal order served on paper; the request still needs the owner's signed
 * approval, and the order's reference as its case number.
 */
import { sign } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { AuditLog, evidenceProofs, signCheckpoint, treeOfEntries } from '../audit/index.js';
import { iso, systemClock } from '../clock.js';
import { silentLogger } from '../log.js';
import type { Config } from '../config.js';
import { verifyEvidence } from '../evidence/index.js';
import { b64urlEncode, DEVICE_KEY_FILE, parseB64url, readKeyFile } from '../owner/index.js';
import { buildEvidenceBundle, RequestTable, streamWriter } from '../requests/index.js';
import { readClip } from '../store/index.js';
import { parseVerifierKey, rootHash } from '../tlog/index.js';
import { configFrom, configOption, jsonOption, print, printJson, UsageError, type Command, type Flags } from './command.js';
import { openCliDatabase } from './database.js';

export const evidence: Command = {
  usage: 'evidence verify BUNDLE [--device-key KEY] [--owner-key KEY] [--json] | evidence export REQUEST_ID DEST',
  summary: 'check an evidence bundle offline (what it proves, what it does not), or write one for a legal order served on paper',
  options: { ...configOption, ...jsonOption, 'device-key': { type: 'string' }, 'owner-key': { type: 'string' } },
  async run(args, flags) {
    if (args[0] === 'verify') return verify(args[1], flags);
    if (args[0] === 'export') return exportBundle(args[1], args[2], configFrom(flags));
    throw new UsageError(`usage: doorbell ${evidence.usage}`, 'evidence');
  },
};

/** A device key as `doorbell audit key` prints it (name+hash+key), or 32 raw bytes in base64url. */
function deviceKeyOf(text: string): Uint8Array {
  if (text.includes('+')) return parseVerifierKey(text).publicKey;
  const raw = parseB64url(text);
  if (raw?.length !== 32) throw new UsageError('--device-key takes the key `doorbell audit key` prints, or 32 bytes of base64url', 'evidence');
  return raw;
}

function verify(file: string | undefined, flags: Flags): number {
  if (!file) throw new UsageError('evidence verify needs the bundle file', 'evidence');
  const ownerKey = typeof flags['owner-key'] === 'string' ? flags['owner-key'] : undefined;
  if (ownerKey && parseB64url(ownerKey)?.length !== 32) throw new UsageError('--owner-key takes 32 bytes of base64url', 'evidence');
  const verdict = verifyEvidence(readFileSync(file), {
    ...(typeof flags['device-key'] === 'string' ? { deviceKey: deviceKeyOf(flags['device-key']) } : {}),
    ...(ownerKey ? { ownerKey } : {}),
  });
  if (flags.json) {
    printJson(verdict);
    return verdict.ok ? 0 : 1;
  }
  print(verdict.ok ? `${file}: every check passed.` : `${file}: REJECTED, this bundle fails its checks.`);
  if (verdict.problems.length) print(['What is wrong:', ...verdict.problems.map((p) => `  - ${p}`)].join('\n'));
  if (verdict.proven.length) print([verdict.ok ? 'Proven:' : 'Checks that passed anyway:', ...verdict.proven.map((p) => `  - ${p}`)].join('\n'));
  print(['Not proven by this bundle:', ...verdict.notProven.map((p) => `  - ${p}`)].join('\n'));
  return verdict.ok ? 0 : 1;
}

async function exportBundle(requestId: string | undefined, dest: string | undefined, config: Config): Promise<number> {
  if (!requestId || !dest) throw new UsageError('evidence export needs REQUEST_ID and DEST', 'evidence');
  if (existsSync(dest)) throw new Error(`${dest} exists: choose a new file name`);
  const keyFile = join(config.storage.dir, DEVICE_KEY_FILE);
  if (!existsSync(keyFile)) throw new Error(`no device key at ${keyFile}: the agent has never started with this storage folder`);
  const { privateKey, publicKeyRaw } = readKeyFile(keyFile);
  const db = openCliDatabase(config, { readonly: true });
  try {
    const table = new RequestTable(db);
    table.prepare();
    const row = table.get(requestId);
    if (!row) throw new Error(`no request ${requestId} on this doorbell (see doorbell requests ls)`);
    if (!row.approval) throw new Error(`request ${requestId} has no approval: the owner must sign one first (the phone app or doorbell decide)`);
    const reference = row.request.requester.caseNumber;
    if (!reference) throw new Error(`request ${requestId} carries no case number: a legal order's reference goes in requester.caseNumber`);
    const clips = row.approvedClipIds.map((id) => {
      const clip = readClip(db, config.storage.dir, id);
      if (!clip) throw new Error(`approved clip ${id} is no longer on this doorbell`);
      return { id, start: iso(clip.start), end: iso(clip.end), bytes: clip.bytes, sha256: clip.sha256, trigger: clip.kind, path: clip.path };
    });
    const tree = treeOfEntries(db);
    const signBytes = (m: Uint8Array) => new Uint8Array(sign(null, m, privateKey));
    const log = evidenceProofs(db, tree, requestId, (size) => signCheckpoint(size, rootHash(tree, size), publicKeyRaw, signBytes));
    const bundle = buildEvidenceBundle({
      device: config.device.id,
      devicePublicKey: b64urlEncode(publicKeyRaw),
      requestId,
      createdAt: iso(Date.now()),
      clips,
      approval: row.approval,
      sign: (m) => b64urlEncode(sign(null, m, privateKey)),
      ...(log ? { log } : {}),
    });
    const file = createWriteStream(dest, { flags: 'wx' });
    const sending = bundle.writeTo(streamWriter(file)).then(
      () => file.end(),
      (err: Error) => {
        file.destroy(err);
        throw err;
      },
    );
    await Promise.all([sending, finished(file)]);
    // Footage left the doorbell: that is audited like an upload (and counted in the report).
    const writable = openCliDatabase(config);
    try {
      const audit = new AuditLog({ db: writable, clock: systemClock, log: silentLogger, signer: { publicKey: b64urlEncode(publicKeyRaw), sign: (m) => b64urlEncode(sign(null, m, privateKey)) } });
      audit.start();
      audit.append('evidence-export', { requestId, reference, manifestSha256: bundle.manifest.sha256, bytes: bundle.length, clips: clips.length });
      audit.stop();
    } finally {
      writable.close();
    }
    print(`evidence for request ${requestId} (reference ${reference}): ${clips.length} clip(s), ${bundle.length} bytes written to ${dest}`);
    print(`manifest sha256 ${bundle.manifest.sha256}; check it with: doorbell evidence verify ${dest} --device-key "$(doorbell audit key)"`);
    return 0;
  } finally {
    db.close();
  }
}
