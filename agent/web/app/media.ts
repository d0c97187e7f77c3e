/**
 * Watching a clip or the latest snapshot before deciding (protocol.md "Watching before sharing"):
 * the phone signs a short-lived token for exactly that clip, the agent answers with an age file
 * sealed to this phone, and the phone opens it into a Blob a <video> can play and seek.
 */
import { Decrypter } from 'age-encryption';
import { makeMediaToken, MEDIA_AUTH_SCHEME, type MediaResource } from '../media-token.js';
import { sealingIdentity, type OwnerKey, type StoredSealingKey } from './keys.js';

export async function fetchSealedMedia(key: OwnerKey, sealing: StoredSealingKey, deviceId: string, resource: MediaResource): Promise<Blob> {
  const token = await makeMediaToken({ keyId: key.keyId, sign: (m) => key.sign(new Uint8Array(m)) }, deviceId, resource, Date.now());
  const path = resource === 'snapshot' || resource === 'events' ? `/${resource}` : `/clips/${encodeURIComponent(resource.slice('clip/'.length))}`;
  const res = await fetch(path, { headers: { Authorization: `${MEDIA_AUTH_SCHEME} ${token}` }, cache: 'no-store' });
  if (res.status === 401 || res.status === 403) throw new Error('the doorbell refused: this phone is not (or no longer) an enrolled owner');
  if (res.status === 404) throw new Error(resource === 'snapshot' ? 'no snapshot yet' : 'the doorbell no longer has this clip');
  if (!res.ok) throw new Error(`the doorbell answered ${res.status}`);
  const d = new Decrypter();
  d.addIdentity(sealingIdentity(sealing));
  const bytes = await d.decrypt(new Uint8Array(await res.arrayBuffer()));
  const type = resource === 'snapshot' ? 'image/jpeg' : resource === 'events' ? 'application/json' : 'video/mp4';
  return new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
}
