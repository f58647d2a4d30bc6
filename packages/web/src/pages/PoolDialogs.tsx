// Create / edit / delete a pool. Delete shows the server's refusal (agents still active, or
// offerings naming the pool) as it was sent.
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { Pool, PoolCreate } from '@dc/core';
import { createPool, deletePool, updatePool } from '../api/pools.js';
import { POOL_NAME_PATTERN, PROVISIONER_TYPES, REGION_IDS, REGION_NAMES } from '../api/constants.js';
import { errorMessage } from '../api/client.js';
import { useClient } from '../session.js';
import { ConfirmDialog, Dialog } from '../components/Dialog.js';

export function PoolFormDialog({ pool, onClose, onSaved }: { pool?: Pool; onClose: () => void; onSaved?: (p: Pool) => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [form, setForm] = useState<PoolCreate>({
    name: pool?.name ?? '',
    location: pool?.location ?? 'europe',
    provisioner_type: pool?.provisioner_type ?? 'proxmox',
  });
  const save = useMutation({
    mutationFn: () => {
      if (!pool) return createPool(c, form);
      const patch: Partial<PoolCreate> = {};
      if (form.name !== pool.name) patch.name = form.name;
      if (form.location !== pool.location) patch.location = form.location;
      if (form.provisioner_type !== pool.provisioner_type) patch.provisioner_type = form.provisioner_type;
      if (Object.keys(patch).length === 0) return Promise.resolve(pool);
      return updatePool(c, pool.pool_id, patch);
    },
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['pools'] });
      void qc.invalidateQueries({ queryKey: ['pool', p.pool_id] });
      void qc.invalidateQueries({ queryKey: ['offerings'] });
      onSaved?.(p);
      onClose();
    },
  });
  return (
    <Dialog title={pool ? `Edit pool ${pool.name}` : 'Create pool'} onClose={onClose} name="pool-form">
      <form
        className="form-grid"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <label className="field">
          <span>Name</span>
          <input
            name="name"
            required
            pattern={POOL_NAME_PATTERN.slice(1, -1)}
            title="Letters, digits, dot, underscore and dash; starts with a letter or digit; at most 64 characters"
            value={form.name}
            onChange={(e) => setForm({ ...form, name: e.target.value })}
            placeholder="europe-proxmox"
            autoFocus
          />
        </label>
        <label className="field">
          <span>Region</span>
          <select name="location" value={form.location} onChange={(e) => setForm({ ...form, location: e.target.value })}>
            {REGION_IDS.map((r) => (
              <option key={r} value={r}>
                {r} — {REGION_NAMES[r]}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Provisioner type</span>
          <select name="provisioner_type" value={form.provisioner_type} onChange={(e) => setForm({ ...form, provisioner_type: e.target.value })}>
            {PROVISIONER_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {save.error && (
          <p className="form-error" role="alert">
            {errorMessage(save.error)}
          </p>
        )}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            {pool ? 'Save' : 'Create pool'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function DeletePoolDialog({ pool, onClose, onDeleted }: { pool: Pool; onClose: () => void; onDeleted?: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const del = useMutation({
    mutationFn: () => deletePool(c, pool.pool_id),
    onSuccess: () => {
      qc.removeQueries({ queryKey: ['pool', pool.pool_id] });
      void qc.invalidateQueries({ queryKey: ['pools'] });
      void qc.invalidateQueries({ queryKey: ['offerings'] });
      onDeleted?.();
      onClose();
    },
  });
  return (
    <ConfirmDialog
      title={`Delete pool ${pool.name}?`}
      confirmLabel="Delete pool"
      danger
      busy={del.isPending}
      error={del.error ? errorMessage(del.error) : null}
      onConfirm={() => del.mutate()}
      onClose={onClose}
    >
      <p>
        Offerings routed to it by location fall back to the next pool of region <b>{pool.location}</b> and type{' '}
        <b>{pool.provisioner_type}</b>, if any. A pool with active agents or offerings that name it cannot be deleted.
      </p>
    </ConfirmDialog>
  );
}
