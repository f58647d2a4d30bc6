// /dashboard/provider/pools/{pool_id}: provisioning statistics and charts, the pool's agents (live status) and pending setup tokens.
import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { AGENT_STATUSES, type AgentStatus, type PoolAgent, type PoolAgentListQuery, type SetupTokenInfo } from '@dc/core';
import { usePendingTokens, usePool, usePoolAgents } from '../queries.js';
import { useSettled } from '../lib/debounce.js';
import { ApiError, errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { ConfirmDialog } from '../components/Dialog.js';
import { AGENT_STATUS_TEXT, Countdown, ErrorBox, RelativeTime, StatusBadge } from '../components/bits.js';
import { AddAgentDialog } from './AddAgentDialog.js';
import { PoolInventory } from './PoolInventory.js';
import { DeletePoolDialog, PoolFormDialog } from './PoolDialogs.js';

// The charts (uPlot) load in their own chunk after the page's tables.
const PoolStats = lazy(async () => ({ default: (await import('../components/charts/PoolStats.js')).PoolStats }));

const agentCol = createColumnHelper<PoolAgent>();
const tokenCol = createColumnHelper<SetupTokenInfo>();
/** Agents per page, cut by the server (ordered by label, then key): a 1,000-agent pool sends 100. */
const AGENTS_PAGE_SIZE = 100;

type Modal =
  | { kind: 'add-agent' }
  | { kind: 'edit' }
  | { kind: 'delete' }
  | { kind: 'revoke-agent'; agent: PoolAgent }
  | { kind: 'revoke-token'; token: SetupTokenInfo }
  | null;

export function PoolDetailPage() {
  const { poolId = '' } = useParams();
  const c = useClient();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const pool = usePool(poolId);
  const tokens = usePendingTokens(poolId);
  const [modal, setModal] = useState<Modal>(null);
  const [filter, setFilter] = useState('');
  const [statusFilter, setStatusFilter] = useState<AgentStatus | ''>('');
  const [agentsPage, setAgentsPage] = useState(1);
  const search = useSettled(filter.trim());
  const agentsQuery: PoolAgentListQuery = {
    limit: AGENTS_PAGE_SIZE,
    offset: (agentsPage - 1) * AGENTS_PAGE_SIZE,
    ...(statusFilter ? { status: statusFilter } : {}),
    ...(search ? { q: search } : {}),
  };
  const agentList = usePoolAgents(poolId, agentsQuery);
  const agents = agentList.data?.items;
  // Labels of every agent seen on any page, for the orphan and ghost tables (which name agents by
  // key); a new map when a page brings new ones, so those tables re-render with them.
  const seenLabels = useRef(new Map<string, string | null>());
  const labels = useMemo(() => {
    for (const a of agents ?? []) seenLabels.current.set(a.agent_pubkey, a.label);
    return new Map(seenLabels.current);
  }, [agents]);

  const revokeA = useMutation({
    mutationFn: (a: PoolAgent) => c.call('revokeAgent', { params: { agent_pubkey: a.agent_pubkey } }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.pool(poolId) });
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
      setModal(null);
    },
  });
  const revokeT = useMutation({
    mutationFn: (t: SetupTokenInfo) => c.call('revokeSetupToken', { params: { token_id: t.token_id } }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.tokens(poolId) });
      setModal(null);
    },
  });

  const agentColumns = useMemo(
    () => [
      agentCol.accessor((a) => a.label ?? '', {
        id: 'label',
        header: 'Label',
        cell: (i) => (i.getValue() ? <span className="strong">{i.getValue()}</span> : <span className="muted">(no label)</span>),
      }),
      agentCol.accessor('status', {
        id: 'status',
        header: 'Status',
        cell: (i) => <StatusBadge status={i.row.original.status} />,
      }),
      agentCol.accessor((a) => a.version ?? '', { id: 'version', header: 'Version', cell: (i) => i.getValue() || <span className="muted">—</span> }),
      // Machines that exist (provisioned, terminating, termination failed) that the agent built and owns.
      agentCol.accessor('active_contracts', {
        header: 'Machines',
        meta: { className: 'num' },
        cell: (i) => <span title="Machines it built that still exist: provisioned, terminating or termination failed">{i.getValue()}</span>,
      }),
      // What the agent itself last said it is working on, against its own concurrency limit.
      agentCol.accessor((a) => a.reported_active_contracts ?? -1, {
        id: 'reported',
        header: 'Working / limit',
        meta: { className: 'num' },
        cell: (i) => {
          const a = i.row.original;
          return (
            <span title="From the agent's last heartbeat: contracts it is working on, and its max_concurrent (∞ when it sets none)">
              {`${a.reported_active_contracts ?? '—'} / ${a.max_concurrent ?? '∞'}`}
            </span>
          );
        },
      }),
      agentCol.accessor('last_seen_at', {
        id: 'last_seen',
        header: 'Last Seen',
        cell: (i) => <RelativeTime iso={i.row.original.last_seen_at} />,
      }),
      agentCol.accessor('agent_pubkey', {
        header: 'Key',
        cell: (i) => (
          <span className="mono muted" title={i.getValue()}>
            {i.getValue().slice(0, 12)}…
          </span>
        ),
      }),
      agentCol.display({
        id: 'actions',
        header: 'Actions',
        meta: { className: 'actions' },
        cell: (i) =>
          i.row.original.status === 'revoked' ? (
            <span className="muted">
              revoked <RelativeTime iso={i.row.original.revoked_at} />
            </span>
          ) : (
            <button type="button" className="btn btn-small btn-danger-text" onClick={() => setModal({ kind: 'revoke-agent', agent: i.row.original })}>
              Revoke
            </button>
          ),
      }),
    ],
    [],
  );

  const tokenColumns = useMemo(
    () => [
      tokenCol.accessor('token_id', { header: 'Token', cell: (i) => <span className="mono">{i.getValue()}</span> }),
      tokenCol.accessor((t) => t.label ?? '', { id: 'label', header: 'Label', cell: (i) => i.getValue() || <span className="muted">(none)</span> }),
      tokenCol.accessor('created_at', { header: 'Created', cell: (i) => <RelativeTime iso={i.getValue()} /> }),
      tokenCol.accessor('expires_at', { header: 'Expires in', cell: (i) => <Countdown iso={i.getValue()} /> }),
      tokenCol.display({
        id: 'actions',
        header: 'Actions',
        meta: { className: 'actions' },
        cell: (i) => (
          <button type="button" className="btn btn-small btn-danger-text" onClick={() => setModal({ kind: 'revoke-token', token: i.row.original })}>
            Revoke
          </button>
        ),
      }),
    ],
    [],
  );

  if (pool.error instanceof ApiError && pool.error.status === 404) {
    return (
      <section>
        <p className="page-status">
          Pool <span className="mono">{poolId}</span> does not exist (it may have been deleted). <Link to="/provider/pools">Back to pools</Link>
        </p>
      </section>
    );
  }
  const p = pool.data;
  const filtered = !!(statusFilter || search);

  return (
    <section>
      <div className="page-head">
        <Link to="/provider/pools" className="muted">
          Pools
        </Link>
        <span className="muted">/</span>
        <h1>Pool: {p?.name ?? poolId}</h1>
        <span className="spacer" />
        {p && (
          <>
            <button type="button" className="btn" onClick={() => setModal({ kind: 'edit' })}>
              Edit
            </button>
            <button type="button" className="btn btn-danger-text" onClick={() => setModal({ kind: 'delete' })}>
              Delete
            </button>
          </>
        )}
      </div>
      {pool.isPending && <p className="page-status">Loading pool…</p>}
      <ErrorBox error={pool.error && !p ? pool.error : null}>
        <button type="button" className="btn btn-small" onClick={() => void pool.refetch()}>
          Retry
        </button>
      </ErrorBox>
      {p && (
        <div className="facts" data-pool-facts>
          <span>
            Region: <b>{p.location}</b>
          </span>
          <span>
            Type: <b>{p.provisioner_type}</b>
          </span>
          <span>
            Offerings:{' '}
            <Link to={`/provider/offerings?pool_id=${encodeURIComponent(p.pool_id)}`}>
              <b>{p.offerings_count}</b> linked
            </Link>
          </span>
          <span>
            Online: <b>{`${p.online_count}/${p.agents_count}`}</b>
          </span>
          <span title="Machines built by this pool that still exist (provisioned, terminating, termination failed), plus paid contracts being provisioned here">
            Active contracts: <b>{p.active_contracts}</b>
          </span>
          <span
            className={p.teardowns_waiting > 0 ? 'warn' : undefined}
            title="Teardowns of this pool's machines no agent can take now: the owner is gone or stopped taking teardowns, and no other agent reports the same host scope"
          >
            Teardowns waiting: <b data-teardowns-waiting={p.teardowns_waiting}>{p.teardowns_waiting}</b>
          </span>
          <span className={p.orphans.length > 0 ? 'warn' : undefined}>
            Orphans: <b>{p.orphans.length}</b>
          </span>
          <span className={p.ghosts.length > 0 ? 'bad' : undefined}>
            Ghosts: <b>{p.ghosts.length}</b>
          </span>
          <span className="mono muted">{p.pool_id}</span>
        </div>
      )}

      {p && (
        <Suspense fallback={null}>
          <PoolStats poolId={p.pool_id} />
        </Suspense>
      )}

      <div className="section-head">
        <h2>Agents</h2>
        <span className="muted">
          {p ? `${p.agents_count} active` : ''}
          {agentList.data && filtered ? ` · ${agentList.data.total} match` : ''}
          {agentList.isPlaceholderData ? ' · loading' : ''}
        </span>
        <input
          className="filter"
          type="search"
          name="agent-filter"
          placeholder="Filter by label or key"
          value={filter}
          onChange={(e) => {
            setFilter(e.target.value);
            setAgentsPage(1);
          }}
        />
        <select
          name="agent-status"
          value={statusFilter}
          onChange={(e) => {
            setStatusFilter(e.target.value as AgentStatus | '');
            setAgentsPage(1);
          }}
        >
          <option value="">All statuses</option>
          {AGENT_STATUSES.map((st) => (
            <option key={st} value={st}>
              {AGENT_STATUS_TEXT[st]}
            </option>
          ))}
        </select>
        <span className="spacer" />
        {p && (
          <button type="button" className="btn btn-primary" onClick={() => setModal({ kind: 'add-agent' })}>
            + Add Agent
          </button>
        )}
      </div>
      <DataTable
        name="agents"
        columns={agentColumns}
        data={agents}
        getRowId={(a) => a.agent_pubkey}
        isLoading={agentList.isPending}
        error={agentList.error}
        onRetry={() => void agentList.refetch()}
        serverPage={
          agentList.data && { offset: agentsQuery.offset ?? 0, total: agentList.data.total, pageSize: AGENTS_PAGE_SIZE, onPage: setAgentsPage }
        }
        rowClassName={(a) => (a.status === 'revoked' ? 'row-revoked' : undefined)}
        empty={
          filtered ? (
            'No agent matches the filter.'
          ) : (
            <>
              No agents yet. Use <b>+ Add Agent</b> to get a one-line setup command for a hypervisor.
            </>
          )
        }
      />

      {p && <PoolInventory pool={p} labels={labels} />}

      <div className="section-head">
        <h2>Pending setup tokens</h2>
        <span className="muted">unused and unexpired; each registers one agent</span>
      </div>
      <DataTable
        name="tokens"
        columns={tokenColumns}
        data={tokens.data}
        getRowId={(t) => t.token_id}
        isLoading={tokens.isPending}
        error={tokens.error}
        onRetry={() => void tokens.refetch()}
        empty="No pending tokens."
      />

      {modal?.kind === 'add-agent' && p && <AddAgentDialog pool={p} onClose={() => setModal(null)} />}
      {modal?.kind === 'edit' && p && <PoolFormDialog pool={p} onClose={() => setModal(null)} />}
      {modal?.kind === 'delete' && p && <DeletePoolDialog pool={p} onClose={() => setModal(null)} onDeleted={() => navigate('/provider/pools')} />}
      {modal?.kind === 'revoke-agent' && (
        <ConfirmDialog
          title={`Revoke agent ${modal.agent.label ?? modal.agent.agent_pubkey.slice(0, 12)}?`}
          confirmLabel="Revoke agent"
          danger
          busy={revokeA.isPending}
          error={revokeA.error ? errorMessage(revokeA.error) : null}
          onConfirm={() => revokeA.mutate(modal.agent)}
          onClose={() => {
            revokeA.reset();
            setModal(null);
          }}
        >
          <p>
            Its next request is refused and it stops (exit code 78); any contract lease it holds is released so another agent can take
            it. This cannot be undone: to bring the host back, set it up again with a new token.
          </p>
          <p className="mono muted">{modal.agent.agent_pubkey}</p>
        </ConfirmDialog>
      )}
      {modal?.kind === 'revoke-token' && (
        <ConfirmDialog
          title={`Revoke setup token ${modal.token.token_id}?`}
          confirmLabel="Revoke token"
          danger
          busy={revokeT.isPending}
          error={revokeT.error ? errorMessage(revokeT.error) : null}
          onConfirm={() => revokeT.mutate(modal.token)}
          onClose={() => {
            revokeT.reset();
            setModal(null);
          }}
        >
          <p>A setup command using it will be refused.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
