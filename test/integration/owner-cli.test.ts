import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { writeKeyFile } from '../../agent/owner/index.js';
import { makeRequest, REQUESTER } from '../helpers/protocol.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;

describe('the owner and requester tools in a terminal', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let config: string;
  const dir = mkdtempSync(join(tmpdir(), 'owner-cli-'));
  /** The test requester's key as a PEM file, as `doorbell requester keygen` writes one. */
  const requesterKey = (): string => {
    const file = join(dir, 'requester.pem');
    if (!existsSync(file)) writeKeyFile(file, REQUESTER.privateKey);
    return file;
  };
  const keyFile = join(dir, 'owner.key');

  async function doorbell(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, DOORBELL_CONFIG: '' } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  beforeAll(async () => {
    t = await startTestAgent({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true } });
    receiver = await startEvidenceReceiver({ dir: join(dir, 'received') });
    config = t.writeCliConfig(join(dir, 'agent.yaml'));
    await t.ring();
    await t.ring();
  }, 120_000);

  afterAll(async () => {
    await receiver?.stop();
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a key, enrolls it, and approves a request from the terminal: the bundle arrives', async () => {
    const keygen = await doorbell('owner', 'keygen', '--out', keyFile);
    expect(keygen.code).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const publicKey = /signing key\s+(\S+)/.exec(keygen.stdout)![1]!;
    const sealingKey = /sealing key\s+(age1\S+)/.exec(keygen.stdout)![1]!;
    const keyId = /key id\s+([0-9a-f ]{19})/.exec(keygen.stdout)![1]!.replace(/ /g, '');

    const added = await doorbell('owner', 'add', '--name', 'Alice', '--key', publicKey, '--seal', sealingKey);
    expect(added.stdout).toContain(`enrolled ${keyId}`);
    const device = JSON.parse(readFileSync(join(t.config.storage.dir, 'device-public.json'), 'utf8')) as { keyId: string };
    // The device's fingerprint, grouped by four, for the owner to compare with the phone's.
    expect(added.stdout).toContain(`device ${device.keyId.replace(/(.{4})(?=.)/g, '$1 ')}`);
    const list = JSON.parse((await doorbell('owner', 'list', '--json')).stdout) as {
      device: { keyId: string; fingerprint: string };
      owners: { keyId: string; revokedAt: string | null }[];
    };
    expect(list.device.keyId).toBe(device.keyId);
    expect(list.owners).toMatchObject([{ keyId, name: 'Alice', sealingRecipient: sealingKey, revokedAt: null, via: 'cli' }]);
    expect((await doorbell('owner', 'list')).stdout).toContain(`device ${list.device.fingerprint}`);

    const request = makeRequest({ uploadUrl: receiver.url('/put/cli-1') });
    const file = join(dir, 'request.json');
    writeFileSync(file, JSON.stringify(request));
    expect((await doorbell('request', 'send', file, '--key', requesterKey())).stdout).toContain(`sent ${String(request.id)}`);
    await until(() => t.audit().some((e) => e.type === 'notice' && e.requestId === request.id), 15_000, 'the notice');

    const approve = await doorbell('owner', 'approve', String(request.id), '--key', keyFile, '--clips', t.clips[0]!.id);
    expect(approve.stdout).toContain('status       uploaded');
    expect(approve.code).toBe(0);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.verification?.ok).toBe(true);
    expect(receiver.requests[0]!.verification?.manifest?.clips.map((c) => c.id)).toEqual([t.clips[0]!.id]);

    const shown = JSON.parse((await doorbell('requests', 'show', String(request.id), '--json')).stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: request.id, state: 'uploaded', approvedClips: [t.clips[0]!.id] });
  });

  it('denies from the terminal: nothing is sent', async () => {
    const request = makeRequest({ uploadUrl: receiver.url('/put/cli-2') });
    const file = join(dir, 'request-2.json');
    writeFileSync(file, JSON.stringify(request));
    await doorbell('request', 'send', file, '--key', requesterKey());
    await until(() => t.audit().some((e) => e.type === 'notice' && e.requestId === request.id), 15_000, 'the notice');
    const deny = await doorbell('owner', 'deny', String(request.id), '--key', keyFile);
    expect(deny.code).toBe(0);
    expect(deny.stdout).toContain('status       denied');
    expect(receiver.requests).toHaveLength(1);
    const ls = JSON.parse((await doorbell('requests', 'ls', '--json')).stdout) as { id: string; state: string }[];
    expect(ls.find((r) => r.id === request.id)?.state).toBe('denied');
  });

  it('says so when the request is not waiting for a decision', async () => {
    const late = await doorbell('owner', 'approve', 'rfa-nothing', '--key', keyFile);
    expect(late.code).toBe(1);
    expect(late.stdout).toContain('not waiting for a decision');
  });

  it('revokes the key: its decisions are refused from then on', async () => {
    const { keyId } = (JSON.parse((await doorbell('owner', 'list', '--json')).stdout) as { owners: { keyId: string }[] }).owners[0]!;
    expect((await doorbell('owner', 'revoke', keyId)).stdout).toContain(`revoked ${keyId}`);
    expect(t.audit().map((e) => e.type)).toEqual(expect.arrayContaining(['enrollment', 'revocation']));

    const request = makeRequest({ uploadUrl: receiver.url('/put/cli-3') });
    const file = join(dir, 'request-3.json');
    writeFileSync(file, JSON.stringify(request));
    await doorbell('request', 'send', file, '--key', requesterKey());
    await until(() => t.audit().some((e) => e.type === 'notice' && e.requestId === request.id), 15_000, 'the notice');
    const refused = await doorbell('owner', 'approve', String(request.id), '--key', keyFile);
    expect(refused.code).toBe(1);
    // The embedded broker no longer lets the key read the owner topics (docs/protocol.md "Broker access");
    // requests-decisions.test.ts shows the device refusing a revoked key's decision that got through anyway.
    expect(refused.stderr).toContain('the broker refused this key the owner topics');
    expect(refused.stderr).toContain('is this key enrolled and not revoked?');
    expect(receiver.requests).toHaveLength(1);
  });
});
