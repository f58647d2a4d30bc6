// Create or edit an offering, including the explicit pool override (empty = auto by location).
// Before saving it shows which pool the offering will route to (core's rule over the pools
// loaded), and warns when it routes nowhere.
import { useMemo, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import {
  COUNTRY,
  CURRENCY,
  OFFERING_ID,
  OFFERING_NAME_MAX,
  OFFERING_STATUSES,
  PRODUCT_TYPE_MAX,
  PROVISIONER_TYPES,
  type Offering,
  type OfferingCreate,
  type OfferingStatus,
  type OfferingUpdate,
  type Pool,
  type ProvisionerType,
} from '@dc/core';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { PRICE, ruleProps } from '../lib/forms.js';
import { defaultProvisionerType, previewRoute, type RoutePreview } from '../lib/route-preview.js';
import { useClient } from '../session.js';
import { Dialog } from '../components/Dialog.js';

interface Form {
  offering_id: string;
  name: string;
  product_type: string;
  datacenter_country: string;
  monthly_price: string;
  currency: string;
  provisioner_type: ProvisionerType | '';
  agent_pool_id: string;
  status: OfferingStatus;
}

function toForm(o?: Offering): Form {
  return {
    offering_id: o?.offering_id ?? '',
    name: o?.name ?? '',
    product_type: o?.product_type ?? 'compute',
    datacenter_country: o?.datacenter_country ?? '',
    monthly_price: o ? o.monthly_price.toFixed(2) : '',
    currency: o?.currency ?? 'EUR',
    provisioner_type: o?.provisioner_type ?? '',
    agent_pool_id: o?.agent_pool_id ?? '',
    status: o?.status ?? 'active',
  };
}

/** The explicit pool's name, its region and type: what the Pool select and the preview show. */
const poolText = (p: Pool) => `${p.name} (${p.location}, ${p.provisioner_type})`;

/** The preview line under the form: the pool it will route to, or why it routes nowhere. */
function RouteLine({ preview, explicitType, hasDefault }: { preview: RoutePreview; explicitType: boolean; hasDefault: boolean }) {
  switch (preview.kind) {
    case 'incomplete':
      return preview.unknownCountry ? (
        <p className="route-preview route-warn" data-route-preview="incomplete">
          “{preview.unknownCountry}” is not a country code: {COUNTRY.rule}.
        </p>
      ) : (
        <p className="route-preview muted" data-route-preview="incomplete">
          Enter the country to see which pool this offering will route to.
        </p>
      );
    case 'location':
      return (
        <p className="route-preview route-ok" data-route-preview="location">
          Routes to pool <b data-route-pool={preview.pool.pool_id}>{preview.pool.name}</b>: the oldest {preview.type} pool in {preview.region} (auto by
          location).
        </p>
      );
    case 'explicit':
      if (preview.typeMismatch) {
        return (
          <p className="route-preview route-warn" data-route-preview="type-mismatch">
            ⚠ Pool <b>{preview.pool.name}</b> is a {preview.pool.provisioner_type} pool: a {preview.type} offering cannot use it. Set the provisioner type to{' '}
            {preview.pool.provisioner_type}
            {hasDefault ? ' (or Default)' : ''}, or choose another pool.
          </p>
        );
      }
      return (
        <p className="route-preview route-ok" data-route-preview="explicit">
          Routes to pool <b data-route-pool={preview.pool.pool_id}>{preview.pool.name}</b> (chosen explicitly).
          {preview.otherRegion && (
            <>
              {' '}
              <span className="warn">
                Note: that pool serves {preview.pool.location}, the offering is in {preview.region}.
              </span>
            </>
          )}
        </p>
      );
    case 'none':
      return (
        <p className="route-preview route-warn" data-route-preview="none">
          ⚠ Routes to no pool: there is no {preview.type} pool in {preview.region}
          {preview.inRegion.length > 0 ? ` (it has ${preview.inRegion.map(poolText).join(', ')})` : ''}. Contracts for this offering would wait
          ("waiting: no pool") until one exists. Create a {preview.type} pool in {preview.region} on the Pools page, or choose a pool
          {explicitType && preview.inRegion.length > 0 ? ' or another provisioner type' : ''} here.
        </p>
      );
  }
}

export function OfferingDialog({ offering, pools, types, onClose }: { offering?: Offering; pools: Pool[] | undefined; types: string[]; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [f, setF] = useState<Form>(() => toForm(offering));
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const known = pools ?? [];
  const preview = useMemo(() => (pools ? previewRoute(f, pools) : null), [f, pools]);
  const region = preview && preview.kind !== 'incomplete' ? preview.region : null;
  const dflt = defaultProvisionerType(region, known, f.agent_pool_id || null);
  const defaultLabel =
    dflt.why === 'explicit'
      ? `Default: ${dflt.type} (the chosen pool's type)`
      : dflt.why === 'oldest'
        ? `Default: ${dflt.type} (type of ${dflt.from!.name}, the oldest pool in ${region})`
        : region
          ? `Default: ${dflt.type} (no pool in ${region} yet)`
          : `Default (the oldest pool's type in the region, else ${dflt.type})`;

  const save = useMutation({
    mutationFn: async () => {
      const price = Number(f.monthly_price.trim());
      if (!new RegExp(PRICE.pattern).test(f.monthly_price.trim())) throw new Error(`Monthly price: ${PRICE.rule}.`);
      if (!offering) {
        const body: OfferingCreate = {
          offering_id: f.offering_id.trim(),
          name: f.name.trim(),
          product_type: f.product_type.trim(),
          datacenter_country: f.datacenter_country.trim().toUpperCase(),
          monthly_price: price,
          currency: f.currency.trim().toUpperCase(),
          status: f.status,
          agent_pool_id: f.agent_pool_id || null,
          // Default is sent as the type the preview showed, so what is saved routes as shown. Until
          // the pools are loaded the server applies the same rule itself.
          ...(f.provisioner_type ? { provisioner_type: f.provisioner_type } : pools ? { provisioner_type: dflt.type } : {}),
        };
        return c.call('createOffering', { body });
      }
      const patch: OfferingUpdate = {};
      const before = toForm(offering);
      if (f.name.trim() !== before.name) patch.name = f.name.trim();
      if (f.product_type.trim() !== before.product_type) patch.product_type = f.product_type.trim();
      if (f.datacenter_country.trim().toUpperCase() !== before.datacenter_country) patch.datacenter_country = f.datacenter_country.trim().toUpperCase();
      if (price !== offering.monthly_price) patch.monthly_price = price;
      if (f.currency.trim().toUpperCase() !== before.currency) patch.currency = f.currency.trim().toUpperCase();
      if (f.status !== before.status) patch.status = f.status;
      if (f.agent_pool_id !== before.agent_pool_id) patch.agent_pool_id = f.agent_pool_id || null;
      if (f.provisioner_type && f.provisioner_type !== before.provisioner_type) patch.provisioner_type = f.provisioner_type;
      if (Object.keys(patch).length === 0) return offering;
      return c.call('updateOffering', { params: { offering_id: offering.offering_id }, body: patch });
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.offerings });
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
      onClose();
    },
  });

  return (
    <Dialog title={offering ? `Edit offering ${offering.offering_id}` : 'New offering'} onClose={onClose} name="offering-form">
      <form
        className="form-grid form-2col"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <label className="field">
          <span>Offering ID</span>
          <input
            name="offering_id"
            required
            disabled={!!offering}
            {...ruleProps(OFFERING_ID, 'Offering ID')}
            value={f.offering_id}
            onChange={set('offering_id')}
            placeholder="vps-s-eu"
            autoFocus={!offering}
          />
          {!offering && <small className="hint">{OFFERING_ID.rule}</small>}
        </label>
        <label className="field">
          <span>Name</span>
          <input name="name" required maxLength={OFFERING_NAME_MAX} value={f.name} onChange={set('name')} placeholder="VPS Small" />
        </label>
        <label className="field">
          <span>Product type</span>
          <input name="product_type" required maxLength={PRODUCT_TYPE_MAX} list="offering-types" value={f.product_type} onChange={set('product_type')} />
          <datalist id="offering-types">
            {types.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Country (ISO code)</span>
          <input name="datacenter_country" required {...ruleProps(COUNTRY, 'Country')} maxLength={2} value={f.datacenter_country} onChange={set('datacenter_country')} placeholder="DE" />
        </label>
        <label className="field">
          <span>Monthly price</span>
          <input name="monthly_price" required inputMode="decimal" {...ruleProps(PRICE, 'Monthly price')} value={f.monthly_price} onChange={set('monthly_price')} placeholder="5.00" />
        </label>
        <label className="field">
          <span>Currency</span>
          <input name="currency" required {...ruleProps(CURRENCY, 'Currency')} maxLength={3} value={f.currency} onChange={set('currency')} />
        </label>
        <label className="field">
          <span>Pool</span>
          <select name="agent_pool_id" value={f.agent_pool_id} onChange={set('agent_pool_id')}>
            <option value="">Auto (by location)</option>
            {known.map((p) => (
              <option key={p.pool_id} value={p.pool_id}>
                {poolText(p)}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Provisioner type</span>
          <select name="provisioner_type" value={f.provisioner_type} onChange={set('provisioner_type')}>
            {!offering && <option value="">{defaultLabel}</option>}
            {PROVISIONER_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Status</span>
          <select name="status" value={f.status} onChange={set('status')}>
            {OFFERING_STATUSES.map((st) => (
              <option key={st} value={st}>
                {st}
              </option>
            ))}
          </select>
        </label>
        <div className="span-2" aria-live="polite">
          {preview ? <RouteLine preview={preview} explicitType={!!f.provisioner_type} hasDefault={!offering} /> : <p className="route-preview muted">Loading your pools…</p>}
        </div>
        {save.error && (
          <p className="form-error span-2" role="alert">
            {errorMessage(save.error)}
          </p>
        )}
        <div className="form-actions span-2">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            {offering ? 'Save' : 'Create offering'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
