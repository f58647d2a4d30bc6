// Create or edit an offering, including the explicit pool override (empty = auto by location).
import { useState } from 'react';
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
import { ruleProps } from '../lib/forms.js';
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
    monthly_price: o ? String(o.monthly_price) : '',
    currency: o?.currency ?? 'EUR',
    provisioner_type: o?.provisioner_type ?? '',
    agent_pool_id: o?.agent_pool_id ?? '',
    status: o?.status ?? 'active',
  };
}

export function OfferingDialog({ offering, pools, types, onClose }: { offering?: Offering; pools: Pool[]; types: string[]; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [f, setF] = useState<Form>(() => toForm(offering));
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });

  const save = useMutation({
    mutationFn: async () => {
      const price = Number(f.monthly_price);
      if (!/^\d{1,10}(\.\d{1,2})?$/.test(f.monthly_price.trim())) throw new Error('Monthly price must be a number with at most two decimals.');
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
          ...(f.provisioner_type ? { provisioner_type: f.provisioner_type } : {}),
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
            {...ruleProps(OFFERING_ID)}
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
          <input name="datacenter_country" required {...ruleProps(COUNTRY)} maxLength={2} value={f.datacenter_country} onChange={set('datacenter_country')} placeholder="DE" />
        </label>
        <label className="field">
          <span>Monthly price</span>
          <input name="monthly_price" required inputMode="decimal" value={f.monthly_price} onChange={set('monthly_price')} placeholder="5.00" />
        </label>
        <label className="field">
          <span>Currency</span>
          <input name="currency" required {...ruleProps(CURRENCY)} maxLength={3} value={f.currency} onChange={set('currency')} />
        </label>
        <label className="field">
          <span>Pool</span>
          <select name="agent_pool_id" value={f.agent_pool_id} onChange={set('agent_pool_id')}>
            <option value="">Auto (by location)</option>
            {pools.map((p) => (
              <option key={p.pool_id} value={p.pool_id}>
                {p.name} ({p.location}, {p.provisioner_type})
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Provisioner type</span>
          <select name="provisioner_type" value={f.provisioner_type} onChange={set('provisioner_type')}>
            {!offering && <option value="">Default (the pool's type, else proxmox)</option>}
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
