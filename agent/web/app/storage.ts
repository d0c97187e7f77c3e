/**
 * A small key-value store on IndexedDB. Values are structured clones, so a non-extractable
 * CryptoKey is kept as the key object itself: its private bytes are never readable by the page.
 */

const DB_NAME = 'doorbell-owner';
const STORE = 'kv';

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

export class KeyValueStore {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(): Promise<KeyValueStore> {
    if (typeof indexedDB === 'undefined') throw new Error('this browser has no IndexedDB: the app cannot keep its key');
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    return new KeyValueStore(await promised(request));
  }

  async get<T>(key: string): Promise<T | undefined> {
    const value: unknown = await promised(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(key));
    return value as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(value, key);
    await committed(tx);
  }

  async delete(key: string): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).delete(key);
    await committed(tx);
  }
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}
