// Create / edit / delete a pool, and pause or resume one. The form also sets where work goes when
// the pool cannot take it (its fallback pool and after how long). Delete shows the server's refusal
// (agents still active, offerings naming the pool, a pool naming it as fallback) as it was sent.
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import {
  FALLBACK_AFTER_DEFAULT_SECONDS,
  FALLBACK_AFTER_MAX_SECONDS,
  POOL_NAME,
  PROVISIONER_TYPES,
  REGIONS,
  type Pool,
  type PoolCreate,
  type PoolUpdate,
  type ProvisionerType,
  type RegionId,
} from '@dc/core';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { ruleProps } from '../lib/forms.js';
import { fallbackCandidates, fallbackWhen } from '../lib/fleet.js';
import { usePools } from '../queries.js';
import { useClient } from '../session.js';
import { ConfirmDialog, Dialog } from '../components/Dialog.js';

/** The form's fields: the pool's own, and its fallback with the timer as typed. */
interface PoolForm {
  name: string;
  location: RegionId;
  provisioner_type: ProvisionerType;
  fallback_pool_id: string;
  fallback_cross_region: boolean;
  /** null: only when no agent of this pool can take work. */
  fallback_after_seconds: number | null;
}

/** What the form sends on create, or the fields that changed on edit. */
function poolPatch(form: PoolForm, pool?: Pool): PoolUpdate {
  const fallback = form.fallback_pool_id || null;
  const next: Required<PoolUpdate> = {
    name: form.name,
    location: form.location,
    provisioner_type: form.provisioner_type,
    paused: pool?.paused ?? false,
    fallback_pool_id: fallback,
    // Without a fallback the timer and region flag mean nothing: keep what the pool has.
    fallback_after_seconds: fallback ? form.fallback_after_seconds : (pool?.fallback_after_seconds ?? FALLBACK_AFTER_DEFAULT_SECONDS),
    fallback_cross_region: fallback ? form.fallback_cross_region : (pool?.fallback_cross_region ?? false),
  };
  const patch: PoolUpdate = {};
  for (const k of ['name', 'location', 'provisioner_type', 'fallback_pool_id', 'fallback_after_seconds', 'fallback_cross_region'] as const) {
    if (!pool || next[k] !== pool[k]) (patch as Record<string, unknown>)[k] = next[k];
  }
  return patch;
}

export function PoolFormDialog({ pool, onClose }: { pool?: Pool; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const pools = usePools();
  const [form, setForm] = useState<PoolForm>({
    name: pool?.name ?? '',
    location: pool?.location ?? 'europe',
    provisioner_type: pool?.provisioner_type ?? 'proxmox',
    fallback_pool_id: pool?.fallback_pool_id ?? '',
    fallback_cross_region: pool?.fallback_cross_region ?? false,
    fallback_after_seconds: pool ? pool.fallback_after_seconds : FALLBACK_AFTER_DEFAULT_SECONDS,
  });
  const save = useMutation({
    mutationFn: () => {
      const patch = poolPatch(form, pool);
      if (!pool) return c.call('createPool', { body: patch as PoolCreate });
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
        <FallbackFields form={form} setForm={setForm} pools={pools.data ?? []} poolId={pool?.pool_id} />
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

/** The fallback pool, whether it may be in another region, and when work goes to it. */
function FallbackFields({ form, setForm, pools, poolId }: { form: PoolForm; setForm: (f: PoolForm) => void; pools: readonly Pool[]; poolId?: string }) {
  const candidates = fallbackCandidates(pools, { pool_id: poolId, location: form.location, provisioner_type: form.provisioner_type, cross_region: form.fallback_cross_region });
  const chosen = pools.find((p) => p.pool_id === form.fallback_pool_id);
  const chosenFits = !form.fallback_pool_id || candidates.some((p) => p.pool_id === form.fallback_pool_id);
  const onlyWhenUnavailable = form.fallback_after_seconds === null;
  const none = !form.fallback_pool_id;
  return (
    <fieldset className="fieldset" data-fallback-fields>
      <legend>When this pool cannot take work</legend>
      <label className="field">
        <span>Fallback pool</span>
        <select name="fallback_pool_id" value={form.fallback_pool_id} onChange={(e) => setForm({ ...form, fallback_pool_id: e.target.value })}>
          <option value="">None: work waits for this pool</option>
          {candidates.map((p) => (
            <option key={p.pool_id} value={p.pool_id}>
              {p.name} ({p.location}, {p.provisioner_type}){p.paused ? ' · paused' : ''}
            </option>
          ))}
          {!chosenFits && (
            <option value={form.fallback_pool_id}>
              {chosen?.name ?? form.fallback_pool_id} (another type or region: will be refused)
            </option>
          )}
        </select>
        <small className="hint">
          {candidates.length === 0
            ? `No other ${form.provisioner_type} pool ${form.fallback_cross_region ? 'exists' : `in ${form.location}`}.`
            : `Pools of type ${form.provisioner_type}${form.fallback_cross_region ? ' in any region' : ` in ${form.location}`}.`}
        </small>
      </label>
      <label className="check">
        <input
          type="checkbox"
          name="fallback_cross_region"
          checked={form.fallback_cross_region}
          onChange={(e) => setForm({ ...form, fallback_cross_region: e.target.checked })}
        />
        <span>Allow a pool in another region (customers may get a machine outside the region they ordered)</span>
      </label>
      <div className="fallback-when">
        <label className="field">
          <span>Send work there after waiting (seconds)</span>
          <input
            type="number"
            name="fallback_after_seconds"
            min={0}
            max={FALLBACK_AFTER_MAX_SECONDS}
            step={1}
            required={!none && !onlyWhenUnavailable}
            disabled={none || onlyWhenUnavailable}
            value={form.fallback_after_seconds ?? ''}
            onChange={(e) => setForm({ ...form, fallback_after_seconds: e.target.value === '' ? 0 : Math.trunc(Number(e.target.value)) })}
          />
        </label>
        <label className="check">
          <input
            type="checkbox"
            name="fallback_only_when_unavailable"
            disabled={none}
            checked={onlyWhenUnavailable}
            onChange={(e) => setForm({ ...form, fallback_after_seconds: e.target.checked ? null : FALLBACK_AFTER_DEFAULT_SECONDS })}
          />
          <span>No timer: only when no agent of this pool can take work</span>
        </label>
      </div>
      <small className="hint" data-fallback-summary>
        {none
          ? 'Without a fallback, contracts routed here wait while the pool is paused or has no agent that can take work.'
          : `Work routed here goes to ${chosen?.name ?? 'the fallback'} when no agent of this pool can take it${
              onlyWhenUnavailable ? '' : `, and otherwise ${fallbackWhen(form.fallback_after_seconds)} of waiting`
            }. 0 to ${FALLBACK_AFTER_MAX_SECONDS} seconds.`}
      </small>
    </fieldset>
  );
}

/** Pause or resume a pool: says what stops, what continues and where the waiting work goes. */
export function PausePoolDialog({ pool, fallbackName, onClose }: { pool: Pool; fallbackName: string | null; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const pausing = !pool.paused;
  const toggle = useMutation({
    mutationFn: () => c.call('updatePool', { params: { pool_id: pool.pool_id }, body: { paused: pausing } }),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
      void qc.invalidateQueries({ queryKey: queryKeys.pool(p.pool_id) });
      onClose();
    },
  });
  return (
    <ConfirmDialog
      title={`${pausing ? 'Pause' : 'Resume'} pool ${pool.name}?`}
      confirmLabel={pausing ? 'Pause pool' : 'Resume pool'}
      danger={pausing}
      busy={toggle.isPending}
      error={toggle.error ? errorMessage(toggle.error) : null}
      onConfirm={() => toggle.mutate()}
      onClose={onClose}
    >
      {pausing ? (
        <>
          <p data-pause-effect>
            No new provisioning starts in this pool: its agents take no new builds. Builds already running finish, and teardowns continue.
          </p>
          <p data-pause-waiting>
            {fallbackName ? (
              <>
                Work waiting here goes to the fallback pool <b>{fallbackName}</b> at once: a paused pool has no agent that can take it.
              </>
            ) : (
              <>Contracts routed here wait until you resume it: the pool has no fallback.</>
            )}
          </p>
        </>
      ) : (
        <p data-pause-effect>Its agents take new provisioning work again, starting with the contracts that waited.</p>
      )}
    </ConfirmDialog>
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
        <b>{pool.provisioner_type}</b>, if any. A pool with active agents, offerings that name it, or pools that use it as their fallback cannot be deleted.
      </p>
    </ConfirmDialog>
  );
}
