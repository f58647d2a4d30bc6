// Create / edit / delete a pool. Delete shows the server's refusal (agents still active, or
// offerings naming the pool) as it was sent.
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { POOL_NAME, PROVISIONER_TYPES, REGIONS, type Pool, type PoolCreate, type PoolUpdate, type ProvisionerType, type RegionId } from '@dc/core';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { ruleProps } from '../lib/forms.js';
import { useClient } from '../session.js';
import { ConfirmDialog, Dialog } from '../components/Dialog.js';

export function PoolFormDialog({ pool, onClose }: { pool?: Pool; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [form, setForm] = useState<PoolCreate>({
    name: pool?.name ?? '',
    location: pool?.location ?? 'europe',
    provisioner_type: pool?.provisioner_type ?? 'proxmox',
  });
  const save = useMutation({
    mutationFn: () => {
      if (!pool) return c.call('createPool', { body: form });
      const patch: PoolUpdate = {};
      if (form.name !== pool.name) patch.name = form.name;
      if (form.location !== pool.location) patch.location = form.location;
      if (form.provisioner_type !== pool.provisioner_type) patch.provisioner_type = form.provisioner_type;
      if (Object.keys(patch).length === 0) return Promise.resolve(pool);
      return c.call('updatePool', { params: { pool_id: pool.pool_id }, body: patch });
    },
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
      void qc.invalidateQueries({ queryKey: queryKeys.pool(p.pool_id) });
      void qc.invalidateQueries({ queryKey: queryKeys.offerings });
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
            {...ruleProps(POOL_NAME)}
            value={form.name}
            onChange={(e) => setForm({ ...form, name: e.target.value })}
            placeholder="europe-proxmox"
            autoFocus
          />
          <small className="hint">{POOL_NAME.rule}</small>
        </label>
        <label className="field">
          <span>Region</span>
          <select name="location" value={form.location} onChange={(e) => setForm({ ...form, location: e.target.value as RegionId })}>
            {REGIONS.map((r) => (
              <option key={r.id} value={r.id}>
                {r.id} — {r.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Provisioner type</span>
          <select name="provisioner_type" value={form.provisioner_type} onChange={(e) => setForm({ ...form, provisioner_type: e.target.value as ProvisionerType })}>
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
    mutationFn: () => c.call('deletePool', { params: { pool_id: pool.pool_id } }),
    onSuccess: () => {
      qc.removeQueries({ queryKey: queryKeys.pool(pool.pool_id) });
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
      void qc.invalidateQueries({ queryKey: queryKeys.offerings });
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
