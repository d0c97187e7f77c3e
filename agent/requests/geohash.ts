/** Geohash cells for the area topics, and great-circle distance for "is the device inside the area". */

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';
const EARTH_RADIUS_M = 6_371_008.8;

export interface LatLon {
  lat: number;
  lon: number;
}

interface Cell {
  minLat: number;
  maxLat: number;
  minLon: number;
  maxLon: number;
}

export function encodeGeohash(lat: number, lon: number, precision = 5): string {
  if (!(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180)) {
    throw new RangeError(`not a position: lat ${lat}, lon ${lon}`);
  }
  if (!Number.isInteger(precision) || precision < 1 || precision > 12) {
    throw new RangeError(`geohash precision must be 1..12, got ${precision}`);
  }
  const cell: Cell = { minLat: -90, maxLat: 90, minLon: -180, maxLon: 180 };
  let hash = '';
  let bit = 0;
  let value = 0;
  let evenBit = true; // bits alternate longitude, latitude, starting with longitude
  while (hash.length < precision) {
    if (evenBit) {
      const mid = (cell.minLon + cell.maxLon) / 2;
      if (lon >= mid) {
        value = value * 2 + 1;
        cell.minLon = mid;
      } else {
        value *= 2;
        cell.maxLon = mid;
      }
    } else {
      const mid = (cell.minLat + cell.maxLat) / 2;
      if (lat >= mid) {
        value = value * 2 + 1;
        cell.minLat = mid;
      } else {
        value *= 2;
        cell.maxLat = mid;
      }
    }
    evenBit = !evenBit;
    if (++bit === 5) {
      hash += BASE32[value];
      bit = 0;
      value = 0;
    }
  }
  return hash;
}

function decodeCell(hash: string): Cell {
  const cell: Cell = { minLat: -90, maxLat: 90, minLon: -180, maxLon: 180 };
  let evenBit = true;
  for (const ch of hash.toLowerCase()) {
    const value = BASE32.indexOf(ch);
    if (value < 0) throw new RangeError(`not a geohash: ${JSON.stringify(hash)}`);
    for (let shift = 4; shift >= 0; shift--) {
      const on = ((value >> shift) & 1) === 1;
      if (evenBit) {
        const mid = (cell.minLon + cell.maxLon) / 2;
        if (on) cell.minLon = mid;
        else cell.maxLon = mid;
      } else {
        const mid = (cell.minLat + cell.maxLat) / 2;
        if (on) cell.minLat = mid;
        else cell.maxLat = mid;
      }
      evenBit = !evenBit;
    }
  }
  return cell;
}

/**
 * The cells around `hash`, clockwise from north. Longitude wraps across the antimeridian; there is
 * nothing beyond a pole, so a cell touching one has only 5 neighbours.
 */
export function geohashNeighbours(hash: string): string[] {
  if (hash.length < 1 || hash.length > 12) throw new RangeError(`not a geohash: ${JSON.stringify(hash)}`);
  const cell = decodeCell(hash);
  const height = cell.maxLat - cell.minLat;
  const width = cell.maxLon - cell.minLon;
  const lat = (cell.minLat + cell.maxLat) / 2;
  const lon = (cell.minLon + cell.maxLon) / 2;
  const steps: [number, number][] = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]];
  const out: string[] = [];
  for (const [dLat, dLon] of steps) {
    const nLat = lat + dLat * height;
    if (nLat > 90 || nLat < -90) continue;
    const nLon = ((((lon + dLon * width + 180) % 360) + 360) % 360) - 180;
    const neighbour = encodeGeohash(nLat, nLon, hash.length);
    if (neighbour !== hash.toLowerCase() && !out.includes(neighbour)) out.push(neighbour);
  }
  return out;
}

/** Great-circle (haversine) distance in metres. */
export function distanceMeters(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}
