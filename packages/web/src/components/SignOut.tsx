// Signing out deletes the only copy of the key this browser holds, so it asks first and says
// what brings the identity back: the backup file (or its hex seed), nothing else.
import { useState } from 'react';
import { errorMessage } from '../api/client.js';
import { useSession } from '../session.js';
import { ConfirmDialog } from './Dialog.js';

export function SignOutButton({ label = 'Sign out', className = 'btn btn-small' }: { label?: string; className?: string }) {
  const { state, signOut } = useSession();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const pubkey = state.status === 'signed-in' ? state.key.publicKey : '';
  return (
    <>
      <button type="button" className={className} data-action="sign-out" onClick={() => setAsking(true)}>
        {label}
      </button>
      {asking && (
        <ConfirmDialog
          title="Sign out and remove the key from this browser?"
          confirmLabel="Sign out"
          danger
          busy={busy}
          error={error}
          onClose={() => setAsking(false)}
          onConfirm={() => {
            setBusy(true);
            signOut().catch((e) => {
              setError(errorMessage(e));
              setBusy(false);
            });
          }}
        >
          <div data-sign-out-notice>
            <p>
              This browser holds the only working copy of provider key <span className="mono">{pubkey.slice(0, 8)}…</span>: signing out deletes it.
            </p>
            <p>
              <b>Only the backup file</b> you downloaded when the key was made (<span className="mono">dc-provider-key-{pubkey.slice(0, 8)}.json</span>), or
              the hex seed in it, signs you back in. Without it this provider identity, its pools and offerings cannot be used again.
            </p>
          </div>
        </ConfirmDialog>
      )}
    </>
  );
}
