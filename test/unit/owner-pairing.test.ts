import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { generateOwnerKey, makePairingOffer, PairingWindow, b64urlEncode, type PairingCloseReason } from '../../agent/owner/index.js';

let now = Date.parse('2026-11-22T15:00:00.000Z');
const clock = { now: () => now };
const windows: PairingWindow[] = [];

function openWindow(): { window: PairingWindow; code: string; closed: PairingCloseReason[] } {
  const window = new PairingWindow({ clock, log: silentLogger });
  windows.push(window);
  const closed: PairingCloseReason[] = [];
  window.on('closed', (reason) => closed.push(reason));
  const { code } = window.open();
  return { window, code, closed };
}

const offer = (code: string, name = "Alice's phone", key = generateOwnerKey().publicKeyRaw): Buffer =>
  Buffer.from(JSON.stringify(makePairingOffer(code, name, key, SEAL)));

const SEAL = 'age1uavld2hjtuukr96p2r554nuv6wy7e3wtdtlp7jqhvlcxz6hldf4sauegfn';

const wrongCode = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

afterEach(() => {
  for (const w of windows.splice(0)) w.stop();
});

describe('PairingWindow', () => {
  it('opens with a 6-digit code for 120 s and announces it', () => {
    const window = new PairingWindow({ clock, log: silentLogger });
    windows.push(window);
    const opened: unknown[] = [];
    window.on('opened', (info) => opened.push(info));
    const info = window.open();
    expect(info.code).toMatch(/^\d{6}$/);
    expect(info.expiresAt).toBe(now + 120_000);
    expect(opened).toEqual([info]);
    expect(window.isOpen()).toBe(true);
  });

  it('enrolls the first offer made with the right code, then closes', () => {
    const { window, code, closed } = openWindow();
    const key = generateOwnerKey().publicKeyRaw;
    expect(window.offer(offer(code, "Alice's phone", key))).toEqual({ ok: true, name: "Alice's phone", publicKey: b64urlEncode(key), sealingRecipient: SEAL });
    expect(closed).toEqual(['enrolled']);
    expect(window.isOpen()).toBe(false);
    expect(window.offer(offer(code))).toEqual({ ok: false, reason: 'closed' });
  });

  it('refuses a wrong code and stays open', () => {
    const { window, code } = openWindow();
    expect(window.offer(offer(wrongCode(code)))).toEqual({ ok: false, reason: 'bad-mac' });
    expect(window.isOpen()).toBe(true);
    expect(window.offer(offer(code)).ok).toBe(true);
  });

  it('closes after the fifth wrong offer, refusing even the right code afterwards', () => {
    const { window, code, closed } = openWindow();
    for (let i = 0; i < 4; i++) expect(window.offer(offer(wrongCode(code)))).toEqual({ ok: false, reason: 'bad-mac' });
    expect(window.offer(offer(wrongCode(code)))).toEqual({ ok: false, reason: 'too-many-attempts' });
    expect(closed).toEqual(['too-many-attempts']);
    expect(window.offer(offer(code))).toEqual({ ok: false, reason: 'closed' });
  });

  it('expires after 120 s', () => {
    const { window, code, closed } = openWindow();
    now += 120_000;
    expect(window.isOpen()).toBe(false);
    expect(window.offer(offer(code))).toEqual({ ok: false, reason: 'expired' });
    expect(closed).toEqual(['expired']);
  });

  it('refuses an offer whose MAC was made over another public key', () => {
    const { window, code } = openWindow();
    const claimed = generateOwnerKey().publicKeyRaw;
    const forged = { ...makePairingOffer(code, 'Mallory', generateOwnerKey().publicKeyRaw, SEAL), publicKey: b64urlEncode(claimed) };
    expect(window.offer(Buffer.from(JSON.stringify(forged)))).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('refuses malformed offers without counting them as guesses', () => {
    const { window, code } = openWindow();
    const good = makePairingOffer(code, 'Alice', generateOwnerKey().publicKeyRaw, SEAL);
    const bad = [
      Buffer.from('not json'),
      Buffer.from(JSON.stringify({ ...good, v: 2 })),
      Buffer.from(JSON.stringify({ ...good, name: '' })),
      Buffer.from(JSON.stringify({ ...good, name: 'bell\u0007' })),
      Buffer.from(JSON.stringify({ ...good, publicKey: b64urlEncode(Buffer.alloc(31)) })),
      Buffer.from(JSON.stringify({ ...good, mac: 'abc' })),
    ];
    for (const raw of bad) expect(window.offer(raw)).toEqual({ ok: false, reason: 'bad-offer' });
    expect(window.offer(Buffer.from(JSON.stringify(good))).ok).toBe(true);
  });

  it('invalidates the old code when opened again', () => {
    const { window, code, closed } = openWindow();
    let fresh = window.open().code;
    while (fresh === code) fresh = window.open().code;
    expect(closed[0]).toBe('reopened');
    expect(window.offer(offer(code))).toEqual({ ok: false, reason: 'bad-mac' });
    expect(window.offer(offer(fresh)).ok).toBe(true);
  });
});
