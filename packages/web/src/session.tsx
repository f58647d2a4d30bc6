// Who is signed in: the provider key from IndexedDB and the signing client built on it.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createClient, type Client } from './api/client.js';
import { forgetKey, loadKey, saveKey } from './api/keystore.js';
import type { SigningKey } from './api/signing.js';

type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; error?: string }
  | { status: 'signed-in'; key: SigningKey; client: Client };

interface SessionApi {
  state: SessionState;
  signIn(key: SigningKey): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  const queryClient = useQueryClient();

  useEffect(() => {
    loadKey().then(
      (key) => setState(key ? { status: 'signed-in', key, client: createClient(key) } : { status: 'signed-out' }),
      (err: Error) => setState({ status: 'signed-out', error: `Could not read the stored key: ${err.message}` }),
    );
  }, []);

  const signIn = useCallback(async (key: SigningKey) => {
    await saveKey(key);
    queryClient.clear();
    setState({ status: 'signed-in', key, client: createClient(key) });
  }, [queryClient]);

  const signOut = useCallback(async () => {
    await forgetKey();
    queryClient.clear();
    setState({ status: 'signed-out' });
  }, [queryClient]);

  const api = useMemo(() => ({ state, signIn, signOut }), [state, signIn, signOut]);
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
