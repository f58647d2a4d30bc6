// /dashboard/provider/pools/{pool_id}: provisioning statistics and charts, the pool's agents (live
// status, drain state, health, leases against capacity) and pending setup tokens; pause or resume
// the pool, drain, resume or reset an agent, each after a confirmation that says what it does.
import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { AGENT_STATUSES, STATE_REASON_MAX, type AgentStatus, type PoolAgent, type PoolAgentListQuery, type SetupTokenInfo } from '@dc/core';
import { poolAgentsQuery, usePendingTokens, usePool, usePoolAgents, usePools } from '../queries.js';
import { useSettled } from '../lib/debounce.js';
import { ApiError, errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { ConfirmDialog } from '../components/Dialog.js';
import { AGENT_STATUS_TEXT, Countdown, ErrorBox, RelativeTime, StatusBadge } from '../components/bits.js';
import { formatRate, rateClass } from '../components/charts/format.js';
import { absoluteTime, useClock } from '../lib/time.js';
import { capacityText, coolingDown, fallbackWhen } from '../lib/fleet.js';
import { AddAgentDialog } from './AddAgentDialog.js';
import { PoolInventory } from './PoolInventory.js';
import { DeletePoolDialog, PausePoolDialog, PoolFormDialog } from './PoolDialogs.js';

// The charts (uPlot) load in their own chunk after the page's tables.
const PoolStats = lazy(async () => ({ default: (await import('../components/charts/PoolStats.js')).PoolStats }));

const agentCol = createColumnHelper<PoolAgent>();
const tokenCol = createColumnHelper<SetupTokenInfo>();
/** Agents per page, cut by the server (ordered by label, then key): a 1,000-agent pool sends 100. */
const AGENTS_PAGE_SIZE = 100;

/** The page of agents a filter shows. */
function agentListQuery(page: number, status: AgentStatus | '', q: string): PoolAgentListQuery {
  return { limit: AGENTS_PAGE_SIZE, offset: (page - 1) * AGENTS_PAGE_SIZE, ...(status ? { status } : {}), ...(q ? { q } : {}) };
}

type Modal =
  | { kind: 'add-agent' }
  | { kind: 'edit' }
  | { kind: 'delete' }
  | { kind: 'pause' }
  | { kind: 'revoke-agent'; agent: PoolAgent }
  | { kind: 'drain' | 'resume' | 'reset-health'; agent: PoolAgent }
  | { kind: 'revoke-token'; token: SetupTokenInfo }
  | null;

/** The agent's name in dialog titles: its label, else the start of its key. */
const agentName = (a: PoolAgent) => a.label ?? `${a.agent_pubkey.slice(0, 12)}…`;

/** Drain state: active, or draining with its reason and who set it; "drained" once it holds nothing. */
function AgentState({ agent }: { agent: PoolAgent }) {
  if (agent.state === 'active') {
    return (
      <span className="badge st-active" data-state="active">
        <span className="dot" aria-hidden="true" />
        active
      </span>
    );
  }
  return (
    <span data-state="draining" title={agent.drained ? 'Draining and holding no lease: safe to stop' : 'Takes no new work; finishing what it holds'}>
      <span className="badge st-draining">
        <span className="dot" aria-hidden="true" />
        {agent.drained ? 'drained' : 'draining'}
      </span>
      {agent.state_set_by && <span className="muted"> · by {agent.state_set_by === 'agent' ? 'the agent' : 'you'}</span>}
      {agent.state_reason && (
        <span className="state-reason" data-state-reason>
          {' '}
          · {agent.state_reason}
        </span>
      )}
    </span>
  );
}

/** Health: the running cool-down (until when) or the failures in a row, with Reset. */
function AgentHealth({ agent, onReset }: { agent: PoolAgent; onReset: () => void }) {
  const cooling = useClock((now) => coolingDown(agent.cooldown_until, now));
  const failures = agent.consecutive_failures;
  const reset = (
    <button type="button" className="btn btn-small" data-action="reset-health" onClick={onReset}>
      Reset
    </button>
  );
  if (cooling) {
    return (
      <span className="bad" data-health="cooling">
        cooling down until <time dateTime={agent.cooldown_until ?? undefined}>{absoluteTime(agent.cooldown_until).slice(11)}</time> (<Countdown iso={agent.cooldown_until} />)
        {failures > 0 ? ` · ${failures} failed in a row` : ''} {reset}
      </span>
    );
  }
  if (failures > 0) {
    return (
      <span className="warn" data-health="failing">
        {failures} failed in a row {reset}
      </span>
    );
  }
  return (
    <span className="ok" data-health="ok">
      ok
    </span>
  );
}

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
  // Each change asks for its page at once (the input event, or the end of the typing pause), so the
  // request is on its way while React renders; the table's query then finds it in flight.
  const ask = (q: PoolAgentListQuery) => void qc.prefetchQuery(poolAgentsQuery(c, poolId, q));
  const search = useSettled(filter.trim(), undefined, (term) => ask(agentListQuery(1, statusFilter, term)));
  const agentsQuery = agentListQuery(agentsPage, statusFilter, search);
  const agentList = usePoolAgents(poolId, agentsQuery);
  const pools = usePools();
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
  const afterAgentChange = () => {
    void qc.invalidateQueries({ queryKey: queryKeys.pool(poolId) });
    void qc.invalidateQueries({ queryKey: queryKeys.pools });
    setModal(null);
  };
  const setState = useMutation({
    mutationFn: (a: { agent: PoolAgent; state: 'active' | 'draining'; reason: string | null }) =>
      c.call('updateAgent', { params: { agent_pubkey: a.agent.agent_pubkey }, body: { state: a.state, reason: a.reason } }),
    onSuccess: afterAgentChange,
  });
  const resetHealth = useMutation({
    mutationFn: (a: PoolAgent) => c.call('resetAgentHealth', { params: { agent_pubkey: a.agent_pubkey } }),
    onSuccess: afterAgentChange,
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
      agentCol.accessor('state', {
        id: 'state',
        header: 'State',
        cell: (i) => <AgentState agent={i.row.original} />,
      }),
      agentCol.accessor('consecutive_failures', {
        id: 'health',
        header: 'Health',
        cell: (i) => (i.row.original.status === 'revoked' ? <span className="muted">—</span> : <AgentHealth agent={i.row.original} onReset={() => setModal({ kind: 'reset-health', agent: i.row.original })} />),
      }),
      // Live leases (builds and teardowns) against the limit its heartbeat sets.
      agentCol.accessor('live_leases', {
        id: 'leases',
        header: 'Leases',
        meta: { className: 'num' },
        cell: (i) => (
          <span title="Live leases it holds now (builds and teardowns) / its max_concurrent (∞ when it sets none)">{capacityText(i.row.original)}</span>
        ),
      }),
      agentCol.accessor((a) => a.success_rate_24h ?? -1, {
        id: 'success_rate_24h',
        header: 'Success 24 h',
        meta: { className: 'num' },
        cell: (i) => <span className={rateClass(i.row.original.success_rate_24h)}>{formatRate(i.row.original.success_rate_24h)}</span>,
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
        cell: (i) => {
          const a = i.row.original;
          if (a.status === 'revoked') {
            return (
              <span className="muted">
                revoked <RelativeTime iso={a.revoked_at} />
              </span>
            );
          }
          return (
            <>
              {a.state === 'active' ? (
                <button type="button" className="btn btn-small" data-action="drain" onClick={() => setModal({ kind: 'drain', agent: a })}>
                  Drain
                </button>
              ) : (
                <button type="button" className="btn btn-small" data-action="resume" onClick={() => setModal({ kind: 'resume', agent: a })}>
                  Resume
                </button>
              )}
              <button type="button" className="btn btn-small btn-danger-text" data-action="revoke" onClick={() => setModal({ kind: 'revoke-agent', agent: a })}>
                Revoke
              </button>
            </>
          );
        },
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
  const fallback = p?.fallback_pool_id ? (pools.data ?? []).find((x) => x.pool_id === p.fallback_pool_id) : undefined;
  const fallbackName = p?.fallback_pool_id ? (fallback?.name ?? p.fallback_pool_id) : null;

  return (
    <section>
      <div className="page-head">
        <Link to="/provider/pools" className="muted">
          Pools
        </Link>
        <span className="muted">/</span>
        <h1>Pool: {p?.name ?? poolId}</h1>
        {p?.paused && (
          <span className="badge st-paused" data-paused title="No new provisioning starts here; teardowns continue">
            <span className="dot" aria-hidden="true" />
            paused
          </span>
        )}
        <span className="spacer" />
        {p && (
          <>
            <button type="button" className="btn" data-action={p.paused ? 'resume-pool' : 'pause-pool'} onClick={() => setModal({ kind: 'pause' })}>
              {p.paused ? 'Resume pool' : 'Pause pool'}
            </button>
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
          <span data-fallback>
            Fallback:{' '}
            {p.fallback_pool_id ? (
              <>
                <Link to={`/provider/pools/${encodeURIComponent(p.fallback_pool_id)}`}>
                  <b>{fallbackName}</b>
                </Link>{' '}
                <span className="muted">
                  {fallbackWhen(p.fallback_after_seconds)}
                  {p.fallback_cross_region ? ' · any region' : ''}
                </span>
              </>
            ) : (
              <b className="muted">none</b>
            )}
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
          {p ? `${p.agents_count} ${p.agents_count === 1 ? 'agent' : 'agents'} (revoked not counted)` : ''}
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
            const status = e.target.value as AgentStatus | '';
            // A term still in its typing pause is asked for when the pause ends.
            if (search === filter.trim()) ask(agentListQuery(1, status, search));
            setStatusFilter(status);
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
        keyByPosition
        isLoading={agentList.isPending}
        error={agentList.error}
        onRetry={() => void agentList.refetch()}
        serverPage={
          agentList.data && {
            offset: agentsQuery.offset ?? 0,
            total: agentList.data.total,
            pageSize: AGENTS_PAGE_SIZE,
            onPage: (n) => {
              ask(agentListQuery(n, statusFilter, search));
              setAgentsPage(n);
            },
          }
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
      {modal?.kind === 'pause' && p && <PausePoolDialog pool={p} fallbackName={fallbackName} onClose={() => setModal(null)} />}
      {(modal?.kind === 'drain' || modal?.kind === 'resume') && (
        <AgentStateDialog
          agent={modal.agent}
          drain={modal.kind === 'drain'}
          busy={setState.isPending}
          error={setState.error ? errorMessage(setState.error) : null}
          onConfirm={(reason) => setState.mutate({ agent: modal.agent, state: modal.kind === 'drain' ? 'draining' : 'active', reason })}
          onClose={() => {
            setState.reset();
            setModal(null);
          }}
        />
      )}
      {modal?.kind === 'reset-health' && (
        <ConfirmDialog
          title={`Reset the health of ${agentName(modal.agent)}?`}
          confirmLabel="Reset health"
          busy={resetHealth.isPending}
          error={resetHealth.error ? errorMessage(resetHealth.error) : null}
          onConfirm={() => resetHealth.mutate(modal.agent)}
          onClose={() => {
            resetHealth.reset();
            setModal(null);
          }}
        >
          <p data-reset-effect>
            {coolingDown(modal.agent.cooldown_until, Date.now())
              ? `Ends its cool-down (until ${absoluteTime(modal.agent.cooldown_until).slice(11)}) and clears its failures in a row: it can take new work at once.`
              : `Clears its ${modal.agent.consecutive_failures} failure${modal.agent.consecutive_failures === 1 ? '' : 's'} in a row, so it does not cool down at the next one.`}{' '}
            If what made it fail is not fixed, it cools down again after the same number of failures.
          </p>
        </ConfirmDialog>
      )}
      {modal?.kind === 'revoke-agent' && (
        <ConfirmDialog
          title={`Revoke agent ${agentName(modal.agent)}?`}
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

/** Drain (with an optional reason) or resume one agent, saying what will happen. */
function AgentStateDialog(p: { agent: PoolAgent; drain: boolean; busy: boolean; error: string | null; onConfirm: (reason: string | null) => void; onClose: () => void }) {
  const [reason, setReason] = useState('');
  const a = p.agent;
  return (
    <ConfirmDialog
      title={`${p.drain ? 'Drain' : 'Resume'} agent ${agentName(a)}?`}
      confirmLabel={p.drain ? 'Drain agent' : 'Resume agent'}
      busy={p.busy}
      error={p.error}
      onConfirm={() => p.onConfirm(p.drain ? reason.trim() || null : null)}
      onClose={p.onClose}
    >
      {p.drain ? (
        <>
          <p data-drain-effect>
            It takes no new work, finishes what it holds. Nothing is cancelled and it stays registered; other agents of the pool (or its fallback) take the
            waiting contracts.
          </p>
          <p className="muted" data-drain-holds>
            {a.live_leases === 0
              ? 'It holds no lease now, so it reads drained at once: safe to stop for maintenance.'
              : `It holds ${a.live_leases} lease${a.live_leases === 1 ? '' : 's'} now; it reads drained when ${a.live_leases === 1 ? 'that ends' : 'they end'}, then it is safe to stop.`}
          </p>
          <label className="field">
            <span>Reason (optional, shown in the agents table)</span>
            <input name="reason" value={reason} maxLength={STATE_REASON_MAX} placeholder="kernel update" onChange={(e) => setReason(e.target.value)} autoFocus />
          </label>
        </>
      ) : (
        <p data-drain-effect>
          It takes new work again.
          {a.state_set_by === 'agent' ? ' The agent drained itself (dc-agent drain); resuming here overrides that.' : ''}
        </p>
      )}
    </ConfirmDialog>
  );
}
