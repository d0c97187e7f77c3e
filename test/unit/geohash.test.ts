import { describe, expect, it } from 'vitest';
import { distanceMeters, encodeGeohash, geohashNeighbours } from '../../agent/requests/geohash.js';

describe('encodeGeohash', () => {
  it('matches published vectors', () => {
    expect(encodeGeohash(57.64911, 10.40744)).toBe('u4pru');
    expect(encodeGeohash(57.64911, 10.40744, 11)).toBe('u4pruydqqvj');
    expect(encodeGeohash(42.605, -5.603, 5)).toBe('ezs42');
    expect(encodeGeohash(37.8324, 112.5584, 9)).toBe('ww8p1r4t8');
    expect(encodeGeohash(32, 117, 3)).toBe('wte');
  });

  it('refuses positions and precisions out of range', () => {
    expect(() => encodeGeohash(91, 0)).toThrow(RangeError);
    expect(() => encodeGeohash(0, 181)).toThrow(RangeError);
    expect(() => encodeGeohash(Number.NaN, 0)).toThrow(RangeError);
    expect(() => encodeGeohash(0, 0, 0)).toThrow(RangeError);
  });
});

describe('geohashNeighbours', () => {
  it('lists the 8 cells around a cell, clockwise from north', () => {
    expect(geohashNeighbours('dqcjq')).toEqual(['dqcjw', 'dqcjx', 'dqcjr', 'dqcjp', 'dqcjn', 'dqcjj', 'dqcjm', 'dqcjt']);
  });

  it('crosses parent cells and the antimeridian', () => {
    expect(geohashNeighbours('21202')).toEqual(['21208', '21209', '21203', '21201', '21200', 'rcrbp', 'rcrbr', 'rcrbx']);
    const u000 = geohashNeighbours('u000');
    expect(u000[4]).toBe('spbp');
    expect(u000[6]).toBe('gbpb');
    expect(new Set(u000).size).toBe(8);
  });

  it('has nothing beyond a pole', () => {
    const north = geohashNeighbours('zzzzz');
    expect(north).toHaveLength(5);
    expect(north).not.toContain('zzzzz');
    expect(north).toContain('bpbpb'); // east across the antimeridian
    for (const cell of north) expect(cell).toHaveLength(5);
  });

  it('refuses text that is not a geohash', () => {
    expect(() => geohashNeighbours('u4pra')).toThrow(RangeError);
    expect(() => geohashNeighbours('')).toThrow(RangeError);
  });
});

describe('distanceMeters', () => {
  it('gives great-circle distances', () => {
    expect(distanceMeters({ lat: 0, lon: 0 }, { lat: 0, lon: 0 })).toBe(0);
    // One degree of latitude is about 111.2 km on the mean-radius sphere.
    expect(distanceMeters({ lat: 0, lon: 0 }, { lat: 1, lon: 0 })).toBeCloseTo(111_195, -1);
    // Paris to London, about 343.5 km.
    expect(distanceMeters({ lat: 48.8566, lon: 2.3522 }, { lat: 51.5074, lon: -0.1278 }) / 1000).toBeCloseTo(343.5, 0);
    // Across the antimeridian the short way round.
    expect(distanceMeters({ lat: 0, lon: 179.999 }, { lat: 0, lon: -179.999 })).toBeLessThan(300);
  });
});
