// First visit of a key: the provider registers a display name (PUT /api/v1/providers/{pk}).
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { PROVIDER_NAME_MAX } from '@dc/core';
import { queryKeys } from '../api/query-keys.js';
import { useClient, useSession } from '../session.js';
import { ErrorBox } from '../components/bits.js';
import { SignOutButton } from '../components/SignOut.js';

export function RegisterPage() {
  const client = useClient();
  const { registered } = useSession();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const register = useMutation({
    mutationFn: (n: string) => client.call('putProvider', { body: { name: n } }),
    onSuccess: async (p) => {
      qc.setQueryData(queryKeys.provider, p);
      await registered();
    },
  });
  return (
    <div className="signin">
      <h1>Register as a provider</h1>
      <p>
        Key <code>{client.publicKey}</code> is not registered yet. Choose the name customers will see.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          register.mutate(name.trim());
        }}
      >
        <label className="field">
          <span>Provider name</span>
          <input name="provider-name" value={name} maxLength={PROVIDER_NAME_MAX} required onChange={(e) => setName(e.target.value)} autoFocus />
        </label>
        <button type="submit" className="btn btn-primary" disabled={register.isPending || name.trim() === ''}>
          Register
        </button>{' '}
        <SignOutButton label="Use another key" className="btn" />
      </form>
      <ErrorBox error={register.error} />
    </div>
  );
}
