/**
 * The pairing window (PROTOCOL.md "Owner enrollment"): physical presence opens it for 120 s with a
 * 6-digit code; a phone proves it saw the code with an HMAC over its public key.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { isAgeRecipient } from '../envelope/index.js';
import { b64urlEncode } from './crypto.js';
import { isValidOwnerName, parseOwnerPublicKey } from './registry.js';

const MAX_OFFER_BYTES = 64 * 1024;

export interface PairingWindowDeps {
  clock: Clock;
  log: Logger;
  windowSeconds?: number;
  maxWrongOffers?: number;
}

export interface PairingOpened {
  code: string;
  expiresAt: number;
}

export type PairingCloseReason = 'enrolled' | 'expired' | 'too-many-attempts' | 'reopened' | 'cancelled' | 'stopped';

export type PairingOfferResult =
  | { ok: true; name: string; publicKey: string; sealingRecipient: string }
  | { ok: false; reason: 'closed' | 'expired' | 'bad-offer' | 'bad-mac' | 'too-many-attempts' };

export interface PairingOffer {
  v: 1;
  name: string;
  publicKey: string;
  sealingRecipient: string;
  mac: string;
}

interface OpenWindow extends PairingOpened {
  wrongOffers: number;
  timer: NodeJS.Timeout;
}

function offerMac(code: string, publicKeyRaw: Uint8Array): Buffer {
  return createHmac('sha256', Buffer.from(code, 'ascii')).update(publicKeyRaw).digest();
}

/** What the phone (or `doorbell pair` in tests) sends to `P/D/owner/pair`. */
export function makePairingOffer(code: string, name: string, publicKeyRaw: Uint8Array, sealingRecipient: string): PairingOffer {
  return { v: 1, name, publicKey: b64urlEncode(publicKeyRaw), sealingRecipient, mac: offerMac(code, publicKeyRaw).toString('hex') };
}

/** Emits `opened` (code, expiry) and `closed` (reason), for the LED and the local web page. */
export class PairingWindow extends EventEmitter<{ opened: [PairingOpened]; closed: [PairingCloseReason] }> {
  private window: OpenWindow | undefined;

  constructor(private readonly deps: PairingWindowDeps) {
    super();
  }

  /** Opens the window with a fresh code; an open one is replaced, its code no longer valid. */
  open(): PairingOpened {
    if (this.window) this.close('reopened');
    const code = randomInt(0, 1_000_000).toString().padStart(6, '0');
    const ms = (this.deps.windowSeconds ?? 120) * 1000;
    const expiresAt = this.deps.clock.now() + ms;
    // The timer only closes the window on time for the LED; `offer` checks the clock itself.
    const timer = setTimeout(() => this.close('expired'), ms);
    timer.unref();
    this.window = { code, expiresAt, wrongOffers: 0, timer };
    this.deps.log.info(`pairing window open for ${ms / 1000} s, code ${code}`, { expiresAt: new Date(expiresAt).toISOString() });
    this.emit('opened', { code, expiresAt });
    return { code, expiresAt };
  }

  isOpen(): boolean {
    return this.window !== undefined && this.deps.clock.now() < this.window.expiresAt;
  }

  close(reason: PairingCloseReason): void {
    if (!this.window) return;
    clearTimeout(this.window.timer);
    this.window = undefined;
    this.deps.log.info('pairing window closed', { reason });
    this.emit('closed', reason);
  }

  stop(): void {
    this.close('stopped');
  }

  /** Checks an offer; the first valid one closes the window, and so does the last allowed wrong one. */
  offer(raw: Buffer): PairingOfferResult {
    const window = this.window;
    if (!window) return { ok: false, reason: 'closed' };
    if (this.deps.clock.now() >= window.expiresAt) {
      this.close('expired');
      return { ok: false, reason: 'expired' };
    }
    const offer = parseOffer(raw);
    if (!offer) return { ok: false, reason: 'bad-offer' };
    if (!timingSafeEqual(offerMac(window.code, offer.publicKeyRaw), offer.mac)) {
      window.wrongOffers++;
      this.deps.log.warn('pairing offer with a wrong code', { attempt: window.wrongOffers });
      if (window.wrongOffers >= (this.deps.maxWrongOffers ?? 5)) {
        this.close('too-many-attempts');
        return { ok: false, reason: 'too-many-attempts' };
      }
      return { ok: false, reason: 'bad-mac' };
    }
    this.close('enrolled');
    return { ok: true, name: offer.name, publicKey: b64urlEncode(offer.publicKeyRaw), sealingRecipient: offer.sealingRecipient };
  }
}

function parseOffer(raw: Buffer): { name: string; publicKeyRaw: Buffer; sealingRecipient: string; mac: Buffer } | undefined {
  if (raw.length > MAX_OFFER_BYTES) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    // Not UTF-8 JSON: reported to the caller as 'bad-offer'.
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { v, name, publicKey, sealingRecipient, mac } = json as Record<string, unknown>;
  const publicKeyRaw = parseOwnerPublicKey(publicKey);
  if (v !== 1 || !isValidOwnerName(name) || !publicKeyRaw || !isAgeRecipient(sealingRecipient)) return undefined;
  if (typeof mac !== 'string' || !/^[0-9a-fA-F]{64}$/.test(mac)) return undefined;
  return { name, publicKeyRaw, sealingRecipient, mac: Buffer.from(mac, 'hex') };
}
