/**
 * An owner's ask is never dropped: the device answers an owner key at most once a second, and an ask
 * within that second is answered when the second is up. A broker may deliver an old ask again (QoS 1
 * is at least once, e.g. after it restarted from its saved sessions) just before the owner's new one.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { b64url } from '../../agent/pairing/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { TestOwner } from '../helpers/owner.js';

let t: TestAgent | undefined;
let owner: TestOwner | undefined;
afterAll(async () => {
  await owner?.close();
  await t?.dispose();
});

describe('asks from an owner', () => {
  it('are answered also when one comes right after another', async () => {
    t = await startTestAgent();
    owner = await TestOwner.create(t);
    await new Promise((r) => setTimeout(r, 1100));
    // An earlier ask delivered again by the broker, then the owner's own: the device answers both.
    await owner.session.send({ v: 2, kind: 'ask', at: new Date().toISOString(), nonce: b64url(randomBytes(16)) });
    expect(await owner.session.ask(5000)).toEqual([]);
  });
});
