// /dashboard/provider/pools: every pool with agent, online, contract and offering counts, waiting
// work, the 24 h provisioning success rate, whether it is paused and where its work falls back to.
import { useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { createColumnHelper } from '@tanstack/react-table';
import type { Pool } from '@dc/core';
import { usePools } from '../queries.js';
import { DataTable } from '../components/DataTable.js';
import { formatRate, rateClass } from '../components/charts/format.js';
import { fallbackWhen } from '../lib/fleet.js';
import { AddAgentDialog } from './AddAgentDialog.js';
import { DeletePoolDialog, PoolFormDialog } from './PoolDialogs.js';

type Modal = { kind: 'create' } | { kind: 'edit'; pool: Pool } | { kind: 'delete'; pool: Pool } | { kind: 'add-agent'; pool: Pool } | null;

const col = createColumnHelper<Pool>();

export function PoolsPage() {
  const pools = usePools();
  const navigate = useNavigate();
  const [modal, setModal] = useState<Modal>(null);
  // Fallbacks are named by id: the list itself gives their names.
  const names = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p.name])), [pools.data]);

  const columns = useMemo(
    () => [
      col.accessor('name', {
        header: 'Pool',
        cell: (i) => (
          <>
            <Link to={`/provider/pools/${encodeURIComponent(i.row.original.pool_id)}`} className="strong">
              {i.getValue()}
            </Link>
            {i.row.original.paused && ' '}
            {i.row.original.paused && (
              <span className="badge st-paused" data-paused title="No new provisioning starts here; teardowns continue">
                <span className="dot" aria-hidden="true" />
                paused
              </span>
            )}
          </>
        ),
      }),
      col.accessor('location', { header: 'Region' }),
      col.accessor('provisioner_type', { header: 'Type' }),
      col.accessor('agents_count', {
        header: 'Agents',
        meta: { className: 'num' },
        cell: (i) => <span title={`${i.getValue()} registered ${i.getValue() === 1 ? 'agent' : 'agents'} (revoked ones not counted)`}>{i.getValue()}</span>,
      }),
      col.accessor((p) => (p.agents_count === 0 ? -1 : p.online_count / p.agents_count), {
        id: 'online',
        header: 'Online',
        meta: { className: 'num' },
        cell: (i) => {
          const p = i.row.original;
          const cls = p.agents_count === 0 ? 'muted' : p.online_count === p.agents_count ? 'ok' : p.online_count === 0 ? 'bad' : 'warn';
          return <span className={cls}>{`${p.online_count}/${p.agents_count}`}</span>;
        },
      }),
      col.accessor('active_contracts', {
        header: 'Active contracts',
        meta: { className: 'num' },
        cell: (i) => <span title="Paid contracts routed here being provisioned, and machines built here that still exist">{i.getValue()}</span>,
      }),
      col.accessor('waiting', {
        header: 'Waiting',
        meta: { className: 'num' },
        cell: (i) => <span className={i.getValue() > 0 ? 'warn' : 'muted'}>{i.getValue()}</span>,
      }),
      // Pools without attempts sort below the worst rate.
      col.accessor((p) => p.success_rate_24h ?? -1, {
        id: 'success_rate_24h',
        header: 'Success 24 h',
        meta: { className: 'num' },
        cell: (i) => <span className={rateClass(i.row.original.success_rate_24h)}>{formatRate(i.row.original.success_rate_24h)}</span>,
      }),
      col.accessor((p) => (p.fallback_pool_id ? (names.get(p.fallback_pool_id) ?? p.fallback_pool_id) : ''), {
        id: 'fallback',
        header: 'Fallback',
        cell: (i) => {
          const p = i.row.original;
          if (!p.fallback_pool_id) return <span className="muted">—</span>;
          return (
            <span title={`Work routed here goes to this pool when no agent here can take it${p.fallback_after_seconds === null ? '' : `, or ${fallbackWhen(p.fallback_after_seconds)} of waiting`}`}>
              → {i.getValue()} <span className="muted">{p.fallback_after_seconds === null ? 'when unavailable' : fallbackWhen(p.fallback_after_seconds)}</span>
              {p.fallback_cross_region ? <span className="muted"> · any region</span> : null}
            </span>
          );
        },
      }),
      col.accessor('offerings_count', {
        header: 'Offerings',
        meta: { className: 'num' },
        cell: (i) => <Link to={`/provider/offerings?pool_id=${encodeURIComponent(i.row.original.pool_id)}`}>{i.getValue()}</Link>,
      }),
      col.display({
        id: 'actions',
        header: 'Actions',
        meta: { className: 'actions' },
        cell: (i) => (
          <>
            <button type="button" className="btn btn-small" title="Add agent" onClick={() => setModal({ kind: 'add-agent', pool: i.row.original })}>
              + Agent
            </button>
            <button type="button" className="btn btn-small" onClick={() => setModal({ kind: 'edit', pool: i.row.original })}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-danger-text" onClick={() => setModal({ kind: 'delete', pool: i.row.original })}>
              Delete
            </button>
          </>
        ),
      }),
    ],
    [names],
  );

  const totals = (pools.data ?? []).reduce((a, p) => ({ agents: a.agents + p.agents_count, online: a.online + p.online_count }), { agents: 0, online: 0 });

  return (
    <section>
      <div className="page-head">
        <h1>Agent pools</h1>
        <span className="muted">
          {pools.data ? `${pools.data.length} ${pools.data.length === 1 ? 'pool' : 'pools'} · ${totals.online}/${totals.agents} agents online` : ''}
          {pools.isFetching ? ' · refreshing' : ''}
        </span>
        <span className="spacer" />
        <button type="button" className="btn btn-primary" onClick={() => setModal({ kind: 'create' })}>
          + Create pool
        </button>
      </div>
      <DataTable
        name="pools"
        columns={columns}
        data={pools.data}
        getRowId={(p) => p.pool_id}
        isLoading={pools.isPending}
        error={pools.error}
        onRetry={() => void pools.refetch()}
        sortable
        empty={
          <>
            No pools yet. A pool groups the agents of one region and provisioner type;{' '}
            <button type="button" className="btn-link" onClick={() => setModal({ kind: 'create' })}>
              create the first one
            </button>
            .
          </>
        }
        onRowClick={(p) => navigate(`/provider/pools/${encodeURIComponent(p.pool_id)}`)}
      />
      {pools.error && pools.data ? <p className="stale-note">Showing data from before the last error: refresh failed.</p> : null}
      {modal?.kind === 'create' && <PoolFormDialog onClose={() => setModal(null)} />}
      {modal?.kind === 'edit' && <PoolFormDialog pool={modal.pool} onClose={() => setModal(null)} />}
      {modal?.kind === 'delete' && <DeletePoolDialog pool={modal.pool} onClose={() => setModal(null)} />}
      {modal?.kind === 'add-agent' && <AddAgentDialog pool={modal.pool} onClose={() => setModal(null)} />}
    </section>
  );
}
