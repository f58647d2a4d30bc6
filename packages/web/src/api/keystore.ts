// Where the provider's key lives between visits: one IndexedDB record holding the
// non-extractable CryptoKey (the browser keeps its bytes; script can sign with it but never read
// it) and the public key hex. Signing out deletes the record. A key generated here is stored as
// not registered yet, so the dashboard goes to the registration form without asking the server
// (whose answer would be a 404 in the console).
import type { SigningKey } from './signing.js';

const DB_NAME = 'dc-dashboard';
const STORE = 'keys';
const RECORD = 'provider';

interface StoredKey {
  privateKey: CryptoKey;
  publicKey: string;
  savedAt: string;
  /** false: made in this browser and not registered yet; absent: unknown (an imported key). */
  registered?: boolean;
}

export interface StoredIdentity {
  key: SigningKey;
  /** false when known to be unregistered, null when the server must be asked. */
  registered: false | null;
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this dashboard'));
  });
}

async function run<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? req.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export async function loadKey(): Promise<StoredIdentity | null> {
  const rec = (await run('readonly', (s) => s.get(RECORD))) as StoredKey | undefined;
  if (!rec || !(rec.privateKey instanceof CryptoKey) || typeof rec.publicKey !== 'string') return null;
  return { key: { privateKey: rec.privateKey, publicKey: rec.publicKey }, registered: rec.registered === false ? false : null };
}

export async function saveKey(key: SigningKey, registered: false | null = null): Promise<void> {
  if (key.privateKey.extractable) throw new Error('refusing to store an extractable private key');
  const rec: StoredKey = { privateKey: key.privateKey, publicKey: key.publicKey, savedAt: new Date().toISOString(), ...(registered === false ? { registered } : {}) };
  await run('readwrite', (s) => s.put(rec, RECORD));
}

/** After registration: later visits ask the server for the provider again. */
export async function markRegistered(publicKey: string): Promise<void> {
  const rec = (await run('readonly', (s) => s.get(RECORD))) as StoredKey | undefined;
  if (!rec || rec.publicKey !== publicKey || rec.registered !== false) return;
  const { registered: _known, ...rest } = rec;
  await run('readwrite', (s) => s.put(rest, RECORD));
}

export async function forgetKey(): Promise<void> {
  await run('readwrite', (s) => s.delete(RECORD));
}
