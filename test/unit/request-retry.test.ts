import { describe, expect, it } from 'vitest';
import { BundleError } from '../../agent/requests/bundle-writer.js';
import { DestinationError } from '../../agent/requests/destination.js';
import { classifyUploadResult, retryDelayMs, UploadError } from '../../agent/requests/upload.js';

describe('classifyUploadResult', () => {
  it('is done on any 2xx', () => {
    for (const status of [200, 201, 204, 299]) expect(classifyUploadResult(status)).toBe('done');
  });

  it('retries 408, 429 and 5xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599]) expect(classifyUploadResult(status)).toBe('retry');
  });

  it('fails at once on other 4xx and on redirects', () => {
    for (const status of [301, 302, 307, 308, 400, 401, 403, 404, 413]) expect(classifyUploadResult(status)).toBe('fail');
  });

  it('retries network trouble and timeouts', () => {
    expect(classifyUploadResult(new UploadError('network', 'ECONNRESET'))).toBe('retry');
    expect(classifyUploadResult(new UploadError('timeout', 'too slow'))).toBe('retry');
    expect(classifyUploadResult(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('retry');
    expect(classifyUploadResult(new DestinationError('unresolvable', 'SERVFAIL'))).toBe('retry');
  });

  it('fails when the bundle itself is wrong or the destination became unsafe', () => {
    expect(classifyUploadResult(new BundleError('clip-changed', 'clips/a.mp4 changed'))).toBe('fail');
    expect(classifyUploadResult(new UploadError('length-mismatch', 'short'))).toBe('fail');
    expect(classifyUploadResult(new DestinationError('private-address', 'now 10.0.0.1'))).toBe('fail');
  });
});

describe('retryDelayMs', () => {
  it('doubles from 1 s with equal jitter: between half the step and the step', () => {
    expect(retryDelayMs(1, () => 0)).toBe(500);
    expect(retryDelayMs(1, () => 1)).toBe(1000);
    expect(retryDelayMs(2, () => 0)).toBe(1000);
    expect(retryDelayMs(2, () => 1)).toBe(2000);
    expect(retryDelayMs(4, () => 0.5)).toBe(6000);
  });

  it('never exceeds 5 minutes (reached at attempt 10, 512 s uncapped)', () => {
    expect(retryDelayMs(9, () => 1)).toBe(256_000);
    for (const attempt of [10, 11, 20, 100, 5000]) {
      expect(retryDelayMs(attempt, () => 1)).toBe(300_000);
      expect(retryDelayMs(attempt, () => 0)).toBe(150_000);
    }
  });

  it('stays within its bounds for any random value', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const step = Math.min(300_000, 1000 * 2 ** (attempt - 1));
      for (let i = 0; i < 20; i++) {
        const delay = retryDelayMs(attempt);
        expect(delay).toBeGreaterThanOrEqual(step / 2);
        expect(delay).toBeLessThanOrEqual(step);
      }
    }
  });

  it('refuses attempts that are not positive integers', () => {
    expect(() => retryDelayMs(0)).toThrow(RangeError);
    expect(() => retryDelayMs(1.5)).toThrow(RangeError);
  });
});
