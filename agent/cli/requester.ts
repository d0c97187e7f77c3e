/** `doorbell requester …`: a requester's own key, and a directory's vouch for another requester's key. */
import { iso } from '../clock.js';
import { b64urlEncode, generateOwnerKey, readKeyFile, writeKeyFile } from '../owner/index.js';
import { fingerprint, signEnvelope, vouchPayloadText, VOUCH_DOMAIN } from '../requests/index.js';
import { print, type Command } from './command.js';

export const requester: Command = {
  usage: 'requester keygen --out FILE | requester vouch --key DIRECTORY_KEY --for PUBLICKEY --label LABEL [--days N]',
  summary: "a requester's signing key; a directory (e.g. a city) vouching for an agency's key",
  options: { out: { type: 'string' }, key: { type: 'string' }, for: { type: 'string' }, label: { type: 'string' }, days: { type: 'string' } },
  async run(args, flags) {
    const [sub] = args;
    if (sub === 'keygen') {
      if (typeof flags.out !== 'string') throw new Error('usage: doorbell requester keygen --out FILE');
      const key = generateOwnerKey();
      writeKeyFile(flags.out, key.privateKey);
      print(`private key  ${flags.out} (keep it secret; mode 0600)`);
      print(`key id       ${key.keyId}`);
      print(`fingerprint  ${fingerprint(key.keyId)}`);
      print(`public key   ${b64urlEncode(key.publicKeyRaw)}`);
      print(`request ids  ${key.keyId}.…   receipts under requesters/${key.keyId}/…`);
      return 0;
    }
    if (sub === 'vouch') {
      if (typeof flags.key !== 'string' || typeof flags.for !== 'string' || typeof flags.label !== 'string') {
        throw new Error('usage: doorbell requester vouch --key DIRECTORY_KEY --for PUBLICKEY --label LABEL [--days N]');
      }
      if (!/^[A-Za-z0-9_-]{43}$/.test(flags.for)) throw new Error('--for takes the requester public key (43 characters of base64url)');
      const days = flags.days === undefined ? 365 : Number(flags.days);
      if (!Number.isFinite(days) || days <= 0) throw new Error('--days takes a positive number');
      const directory = readKeyFile(flags.key);
      const expiresAt = Date.now() + days * 24 * 3600_000;
      const vouch = signEnvelope(VOUCH_DOMAIN, directory.privateKey, directory.publicKeyRaw, vouchPayloadText(flags.for, flags.label, expiresAt));
      // The requester passes this file to `doorbell request send --vouch FILE`.
      print(JSON.stringify(vouch));
      process.stderr.write(`vouch for "${flags.label}" by directory key ${directory.keyId}, valid until ${iso(expiresAt)}\n`);
      return 0;
    }
    throw new Error(`usage: doorbell ${requester.usage}`);
  },
};
