// Who is signed in: the provider key from IndexedDB and the signing client built on it.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createClient, type Client } from './api/client.js';
import { forgetKey, loadKey, markRegistered, saveKey } from './api/keystore.js';
import type { SigningKey } from './api/signing.js';

type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; error?: string }
  /** registered: false for a key made here and not registered yet (nothing to ask the server), else null. */
  | { status: 'signed-in'; key: SigningKey; client: Client; registered: false | null };

interface SessionApi {
  state: SessionState;
  /** `fresh`: the key was just generated here, so it cannot be registered yet. */
  signIn(key: SigningKey, opts?: { fresh?: boolean }): Promise<void>;
  signOut(): Promise<void>;
  /** The registration went through: from now on the provider is read from the server. */
  registered(): Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  const queryClient = useQueryClient();

  useEffect(() => {
    loadKey().then(
      (stored) =>
        setState(stored ? { status: 'signed-in', key: stored.key, client: createClient(stored.key), registered: stored.registered } : { status: 'signed-out' }),
      (err: Error) => setState({ status: 'signed-out', error: `Could not read the stored key: ${err.message}` }),
    );
  }, []);

  const signIn = useCallback(
    async (key: SigningKey, opts: { fresh?: boolean } = {}) => {
      const registered = opts.fresh ? false : null;
      await saveKey(key, registered);
      queryClient.clear();
      setState({ status: 'signed-in', key, client: createClient(key), registered });
    },
    [queryClient],
  );

  const signOut = useCallback(async () => {
    await forgetKey();
    queryClient.clear();
    setState({ status: 'signed-out' });
  }, [queryClient]);

  const registered = useCallback(async () => {
    if (state.status !== 'signed-in' || state.registered === null) return;
    await markRegistered(state.key.publicKey);
    setState({ ...state, registered: null });
  }, [state]);

  const api = useMemo(() => ({ state, signIn, signOut, registered }), [state, signIn, signOut, registered]);
  return <SessionContext.Provider value={api}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

/** The signing client of the signed-in provider (pages render only when signed in). */
export function useClient(): Client {
  const { state } = useSession();
  if (state.status !== 'signed-in') throw new Error('not signed in');
  return state.client;
}

/** False when the signed-in key is known not to be registered yet (made here, no name sent). */
export function useMaybeRegistered(): boolean {
  const { state } = useSession();
  return state.status === 'signed-in' && state.registered !== false;
}
