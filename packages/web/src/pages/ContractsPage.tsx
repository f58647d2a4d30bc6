// /dashboard/provider/contracts: status, routing (the pool the offering routes to, the pool whose
// agent serves it, "waiting: no pool" when paid work routes nowhere), the current lease (holder and
// expiry), attempts and last error, who provisioned it; the actions core's state table allows
// (accept, reject, retry, terminate, mark terminated), the lock history of building and tearing
// down as a timeline, and completing contracts an agent handed off for manual provisioning.
import { Fragment, useEffect, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import {
  CONTRACT_STATUSES,
  HANDOFF_NOTE_MAX,
  TEARDOWN_STATUSES,
  nextStatus,
  providerActionsFor,
  type Contract,
  type ContractStatus,
  type EndpointName,
  type Pool,
  type ProviderAction,
} from '@dc/core';
import { useContractEvents, useContracts, usePools } from '../queries.js';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { Dialog } from '../components/Dialog.js';
import { Countdown, ErrorBox, RelativeTime, StatusBadge } from '../components/bits.js';
import { absoluteTime } from '../lib/time.js';
import { machineFacts, machineTag, terminateOutcome } from '../lib/machine.js';
import { Pager } from '../components/Pager.js';

const col = createColumnHelper<Contract>();
/** Contracts per page. */
const CONTRACTS_PAGE_SIZE = 100;

/**
 * Actions that end a machine ask first, in a dialog that names it; accept and reject ask first too
 * (accept says where the contract will be provisioned); retry acts on the click.
 */
type DialogAction = 'terminate' | 'terminated' | 'accept' | 'reject';
type DirectAction = Exclude<ProviderAction, DialogAction>;
const DIRECT_ENDPOINTS: Record<DirectAction, EndpointName & `${DirectAction}Contract`> = {
  retry: 'retryContract',
};
const isDirect = (a: ProviderAction): a is DirectAction => a in DIRECT_ENDPOINTS;

/** How each action core's state table offers is shown. */
const ACTIONS: Record<ProviderAction, { label: string; className: string }> = {
  accept: { label: 'Accept', className: 'btn btn-small btn-primary' },
  reject: { label: 'Reject', className: 'btn btn-small btn-danger-text' },
  retry: { label: 'Retry', className: 'btn btn-small' },
  terminate: { label: 'Terminate…', className: 'btn btn-small btn-danger-text' },
  terminated: { label: 'Mark terminated…', className: 'btn btn-small' },
};

/** The button's tooltip: where the table moves the contract (retry differs for a failed teardown). */
function actionTitle(action: ProviderAction, c: Contract): string {
  if (action === 'terminate') return terminateOutcome(c) === 'cancelled' ? 'No agent has taken it: ends it as cancelled' : 'Destroy its machine and end it';
  if (action === 'terminated') return 'Confirm by hand that its machine is gone';
  if (action === 'accept') return c.resolved_pool_id ? 'Moves it to accepted' : 'Moves it to accepted; its offering routes to no pool';
  return `Moves it to ${(nextStatus(c.status, action) ?? c.status).replace(/_/g, ' ')}`;
}

type Modal = { kind: 'complete' | DialogAction; contract: Contract } | null;

/** The labels a contract carries for the agents it names (its lock holder, who provisioned it). */
function agentLabels(c: Contract): Map<string, string | null> {
  const m = new Map<string, string | null>();
  if (c.lock_agent) m.set(c.lock_agent, c.lock_agent_label);
  if (c.provisioned_by) m.set(c.provisioned_by, c.provisioned_by_label);
  // The teardown's owner is the agent that built the machine (or took it last), labelled above.
  if (c.teardown_owner && !m.has(c.teardown_owner)) m.set(c.teardown_owner, null);
  return m;
}

/** Accepted and paid, so provisioning could start, but its offering routes to no pool. */
function waitingNoPool(c: Contract): boolean {
  return c.status === 'accepted' && c.payment_status === 'succeeded' && c.resolved_pool_id === null;
}

function PoolName({ id, pools }: { id: string; pools: Map<string, Pool> }) {
  return <>{pools.get(id)?.name ?? <span className="mono">{id}</span>}</>;
}

function statusParam(s: string | null): ContractStatus | '' {
  return CONTRACT_STATUSES.find((x) => x === s) ?? '';
}

/** An agent key with its label, or the provider itself. */
function AgentName({ agentKey, label, provider }: { agentKey: string | null; label: string | null | undefined; provider: string }) {
  if (!agentKey) return <span className="muted">—</span>;
  if (agentKey === provider) return <span title={agentKey}>you (provider)</span>;
  return (
    <span className="mono" title={agentKey}>
      {label ? (
        <>
          <span className="sans">{label}</span> <span className="muted">{agentKey.slice(0, 6)}</span>
        </>
      ) : (
        `${agentKey.slice(0, 10)}…`
      )}
    </span>
  );
}

export function ContractsPage() {
  const c = useClient();
  const qc = useQueryClient();
  // Local state is the source of truth (synchronous updates); the URL mirrors it for deep links.
  const [params, setParams] = useSearchParams();
  const [view, setView] = useState(() => ({
    status: statusParam(params.get('status')),
    page: Math.max(1, Number(params.get('page') ?? '1') || 1),
  }));
  useEffect(() => {
    const next = new URLSearchParams();
    if (view.status) next.set('status', view.status);
    if (view.page > 1) next.set('page', String(view.page));
    if (next.toString() !== params.toString()) setParams(next, { replace: true });
  }, [view]); // eslint-disable-line react-hooks/exhaustive-deps
  const { status, page } = view;
  const contracts = useContracts({ ...(status ? { status } : {}), limit: CONTRACTS_PAGE_SIZE, offset: (page - 1) * CONTRACTS_PAGE_SIZE });
  // The pools list names each contract's pool; agent labels come with the contracts themselves.
  const pools = usePools();
  const poolsById = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p])), [pools.data]);
  const poolNames = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p.name])), [pools.data]);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [modal, setModal] = useState<Modal>(null);

  const decide = useMutation({
    mutationFn: (a: { id: string; action: DirectAction }) => c.call(DIRECT_ENDPOINTS[a.action], { params: { id: a.id } }),
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      void qc.invalidateQueries({ queryKey: queryKeys.events(r.contract_id) });
    },
  });

  const columns = [
    col.accessor('created_at', { header: 'Created', cell: (i) => <RelativeTime iso={i.getValue()} /> }),
    col.accessor('contract_id', { header: 'Contract', cell: (i) => <span className="mono" title={i.getValue()}>{i.getValue().slice(0, 8)}</span> }),
    col.accessor('status', {
      header: 'Status',
      cell: (i) => {
        const r = i.row.original;
        return (
          <>
            <StatusBadge status={i.getValue()} kind="contract" />
            {r.teardown_handed_off && r.status !== 'terminated' && (
              <span className="muted" data-teardown-handed-off title="An agent handed the teardown to a person: destroy the machine, then mark it terminated.">
                {' '}
                · by hand
              </span>
            )}
          </>
        );
      },
    }),
    col.accessor('payment_status', { header: 'Payment', cell: (i) => <StatusBadge status={i.getValue()} kind="payment" /> }),
    col.accessor('offering_id', {
      header: 'Offering',
      cell: (i) => (
        <span title={i.row.original.offering_name ?? undefined}>
          <span className="mono">{i.getValue()}</span>
        </span>
      ),
    }),
    col.accessor('datacenter_region', { header: 'Region', cell: (i) => i.getValue() ?? <span className="muted">—</span> }),
    // Where the offering routes now; the column keeps the field's name, which it shows.
    col.accessor('resolved_pool_id', {
      header: 'Routed pool',
      cell: (i) => {
        const r = i.row.original;
        const id = r.routed_pool_id ?? i.getValue();
        if (id) return <PoolName id={id} pools={poolsById} />;
        if (waitingNoPool(r)) {
          return (
            <span className="warn" data-no-pool title="Paid and accepted, but its offering routes to no pool: create a pool of its region and type, or set the offering's pool">
              ⚠ waiting: no pool
            </span>
          );
        }
        return <span className="warn">⚠ none</span>;
      },
    }),
    // The pool of the agent holding (or last given) the lease: a fallback when it differs.
    col.accessor('lease_pool_id', {
      id: 'serving_pool',
      header: 'Serving pool',
      cell: (i) => {
        const r = i.row.original;
        const id = i.getValue();
        if (!id) return <span className="muted">—</span>;
        const routed = r.routed_pool_id ?? r.resolved_pool_id;
        return (
          <span>
            <PoolName id={id} pools={poolsById} />
            {routed !== id && (
              <>
                {' '}
                <span className="tag" data-via-fallback title="An agent of a fallback pool took it: the routed pool could not">
                  via fallback
                </span>
              </>
            )}
          </span>
        );
      },
    }),
    col.accessor('lock_agent', {
      header: 'Lock (holder · expires)',
      cell: (i) => {
        const r = i.row.original;
        if (!r.lock_agent) return <span className="muted">free</span>;
        return (
          <span>
            <AgentName agentKey={r.lock_agent} label={r.lock_agent_label} provider={c.publicKey} /> · <Countdown iso={r.lock_expires_at} /> <span className="muted">#{r.lock_token}</span>
          </span>
        );
      },
    }),
    col.accessor('attempts', {
      header: 'Attempts',
      meta: { className: 'num' },
      cell: (i) => (
        <span>
          {i.getValue()}
          {i.row.original.next_attempt_at ? (
            <span className="muted" title={`next attempt ${absoluteTime(i.row.original.next_attempt_at)}`}>
              {' '}
              (retry <Countdown iso={i.row.original.next_attempt_at} />)
            </span>
          ) : null}
        </span>
      ),
    }),
    col.accessor('last_error', {
      header: 'Last error',
      meta: { className: 'clip' },
      cell: (i) => (i.getValue() ? <span className="bad" title={i.getValue() ?? undefined} data-last-error>{i.getValue()}</span> : <span className="muted">—</span>),
    }),
    col.accessor('provisioned_by', {
      header: 'Provisioned by',
      cell: (i) => <AgentName agentKey={i.getValue()} label={i.row.original.provisioned_by_label} provider={c.publicKey} />,
    }),
    col.display({
      id: 'actions',
      header: 'Actions',
      meta: { className: 'actions' },
      cell: (i) => {
        const r = i.row.original;
        const busy = decide.isPending && decide.variables?.id === r.contract_id;
        return (
          <>
            {providerActionsFor(r.status).map((action) => (
              <button
                key={action}
                type="button"
                className={ACTIONS[action].className}
                data-action={action}
                title={actionTitle(action, r)}
                disabled={busy}
                onClick={() => (isDirect(action) ? decide.mutate({ id: r.contract_id, action }) : setModal({ kind: action, contract: r }))}
              >
                {ACTIONS[action].label}
              </button>
            ))}
            {r.status === 'provisioning' && (
              <button type="button" className="btn btn-small btn-primary" onClick={() => setModal({ kind: 'complete', contract: r })}>
                Complete…
              </button>
            )}
            <button type="button" className="btn btn-small" aria-expanded={expanded === r.contract_id} onClick={() => setExpanded(expanded === r.contract_id ? null : r.contract_id)}>
              History
            </button>
          </>
        );
      },
    }),
  ];

  const total = contracts.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / CONTRACTS_PAGE_SIZE));
  const setFilter = (s: string) => setView({ status: statusParam(s), page: 1 });

  return (
    <section>
      <div className="page-head">
        <h1>Contracts</h1>
        <select name="status" aria-label="Status" value={status} onChange={(e) => setFilter(e.target.value)}>
          <option value="">All statuses</option>
          {CONTRACT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s.replace(/_/g, ' ')}
            </option>
          ))}
        </select>
        <span className="spacer" />
        <span className="muted" data-total={total}>
          {contracts.data ? `${total} contract(s)` : ''}
          {contracts.isFetching ? ' · refreshing' : ''}
        </span>
      </div>
      {decide.error && (
        <div className="error-box" role="alert">
          {errorMessage(decide.error)}{' '}
          <button type="button" className="btn btn-small" onClick={() => decide.reset()}>
            Dismiss
          </button>
        </div>
      )}
      <DataTable
        name="contracts"
        columns={columns}
        data={contracts.data?.items}
        getRowId={(r) => r.contract_id}
        isLoading={contracts.isPending}
        error={contracts.error}
        onRetry={() => void contracts.refetch()}
        empty={status ? `No ${status.replace(/_/g, ' ')} contracts.` : 'No contracts yet. They appear here when customers order your offerings.'}
        expandedRowId={expanded}
        renderExpanded={(r) => <ContractDetail contract={r} provider={c.publicKey} poolNames={poolNames} />}
      />
      <Pager
        page={page}
        pages={pages}
        onPage={(n) => setView((v) => ({ ...v, page: n }))}
      />
      {modal?.kind === 'accept' && <AcceptDialog contract={modal.contract} pools={poolsById} onClose={() => setModal(null)} />}
      {modal?.kind === 'reject' && <RejectDialog contract={modal.contract} onClose={() => setModal(null)} />}
      {modal?.kind === 'complete' && <CompleteDialog contract={modal.contract} onClose={() => setModal(null)} />}
      {modal?.kind === 'terminate' && <TerminateDialog contract={modal.contract} onClose={() => setModal(null)} />}
      {modal?.kind === 'terminated' && <MarkTerminatedDialog contract={modal.contract} onClose={() => setModal(null)} />}
    </section>
  );
}

/** The phase an event belongs to, as the timeline names it. */
const PHASE_TEXT = { provision: 'build', terminate: 'teardown' } as const;

function ContractDetail({ contract, provider, poolNames }: { contract: Contract; provider: string; poolNames: Map<string, string> }) {
  const events = useContractEvents(contract.contract_id);
  // Events name agents by key; those the contract names carry its labels, others their key.
  const labels = agentLabels(contract);
  const tearingDown = TEARDOWN_STATUSES.includes(contract.status);
  return (
    <div className="contract-detail" data-contract-detail={contract.contract_id}>
      <div>
        <h3>Lock history</h3>
        {events.isPending && <p className="muted">Loading…</p>}
        <ErrorBox error={events.error} />
        {events.data && events.data.length === 0 && <p className="muted">No lock events yet (no agent has taken this contract).</p>}
        <ol className="timeline" data-timeline>
          {(events.data ?? []).map((e, i, all) => (
            <Fragment key={e.event_id}>
              {/* The teardown starts a new phase of the same lease sequence: mark where. */}
              {e.action === 'terminate' && all[i - 1]?.action !== 'terminate' && (
                <li className="ev-phase" data-phase="terminate">
                  Teardown
                </li>
              )}
              <li className={`ev ev-${e.event} ev-action-${e.action}`} data-event={e.event} data-action={e.action}>
                <time dateTime={e.at} title={absoluteTime(e.at)}>
                  {absoluteTime(e.at)}
                </time>
                <span className="ev-phase-tag">{PHASE_TEXT[e.action]}</span>
                <span className="ev-name">{e.event.replace(/_/g, ' ')}</span>
                <span className="muted">token #{e.lock_token}</span>
                <span>
                  <AgentName agentKey={e.agent_pubkey} label={e.agent_pubkey ? labels.get(e.agent_pubkey) : null} provider={provider} />
                  {e.via_fallback && (
                    <>
                      {' '}
                      <span className="tag" data-via-fallback>
                        via fallback
                      </span>
                    </>
                  )}
                </span>
                {e.detail && <span className="ev-detail">{e.detail}</span>}
              </li>
            </Fragment>
          ))}
        </ol>
      </div>
      <div>
        <h3>Contract</h3>
        <dl className="kv">
          <dt>ID</dt>
          <dd className="mono">{contract.contract_id}</dd>
          <dt>Offering</dt>
          <dd>
            {contract.offering_name ?? ''} <span className="mono muted">{contract.offering_id}</span>
          </dd>
          <dt>Customer</dt>
          <dd className="mono">{contract.customer_pubkey}</dd>
          {contract.instance_config && (
            <>
              <dt>Requested</dt>
              <dd className="mono">{JSON.stringify(contract.instance_config)}</dd>
            </>
          )}
          {contract.last_error && (
            <>
              <dt>Last error</dt>
              <dd className="bad pre">{contract.last_error}</dd>
            </>
          )}
          {contract.instance_details && (
            <>
              <dt>Instance</dt>
              <dd className="mono pre">{JSON.stringify(contract.instance_details, null, 2)}</dd>
            </>
          )}
          {contract.provisioned_at && (
            <>
              <dt>Provisioned</dt>
              <dd>{absoluteTime(contract.provisioned_at)}</dd>
            </>
          )}
          {contract.provisioned_pool_id && (
            <>
              <dt>Built in pool</dt>
              <dd>{poolNames.get(contract.provisioned_pool_id) ?? <span className="mono">{contract.provisioned_pool_id}</span>}</dd>
            </>
          )}
          {contract.host_scope && (
            <>
              <dt>Host scope</dt>
              <dd className="mono">{contract.host_scope}</dd>
            </>
          )}
          {tearingDown && (
            <>
              <dt>Teardown by</dt>
              <dd data-teardown-owner>
                {contract.teardown_handed_off ? (
                  'a person (handed off)'
                ) : (
                  <AgentName agentKey={contract.teardown_owner} label={contract.teardown_owner ? labels.get(contract.teardown_owner) : null} provider={provider} />
                )}
              </dd>
              <dt>Machine tag</dt>
              <dd className="mono">{machineTag(contract.contract_id)}</dd>
            </>
          )}
          {contract.terminated_at && (
            <>
              <dt>Terminated</dt>
              <dd data-terminated>
                {absoluteTime(contract.terminated_at)} by{' '}
                <AgentName agentKey={contract.terminated_by} label={contract.terminated_by ? labels.get(contract.terminated_by) : null} provider={provider} />
              </dd>
            </>
          )}
        </dl>
      </div>
    </div>
  );
}

/** Accept, after saying where it will be provisioned, or warning that its offering routes nowhere. */
function AcceptDialog({ contract, pools, onClose }: { contract: Contract; pools: Map<string, Pool>; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  // The offering's type names the pool that is missing when it routes nowhere.
  const offering = useQuery({
    queryKey: queryKeys.offering(contract.offering_id),
    queryFn: ({ signal }) => c.call('getOffering', { params: { offering_id: contract.offering_id }, signal }),
    enabled: contract.resolved_pool_id === null,
  });
  const accept = useMutation({
    mutationFn: () => c.call('acceptContract', { params: { id: contract.contract_id } }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      void qc.invalidateQueries({ queryKey: queryKeys.events(contract.contract_id) });
      onClose();
    },
  });
  const poolId = contract.routed_pool_id ?? contract.resolved_pool_id;
  const pool = poolId ? pools.get(poolId) : undefined;
  const fallback = pool?.fallback_pool_id ? pools.get(pool.fallback_pool_id) : undefined;
  const paid = contract.payment_status === 'succeeded';
  const region = contract.datacenter_region ?? offering.data?.datacenter_region ?? 'its region';
  const type = offering.data?.provisioner_type;
  return (
    <Dialog
      title={`Accept ${contract.offering_name ?? contract.offering_id} (${contract.contract_id.slice(0, 8)})?`}
      onClose={onClose}
      name="accept"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" data-action="confirm-accept" disabled={accept.isPending} onClick={() => accept.mutate()}>
            {accept.isPending ? 'Working…' : poolId ? 'Accept' : 'Accept anyway'}
          </button>
        </>
      }
    >
      <p data-accept-effect>
        The customer&apos;s order is accepted.{' '}
        {poolId ? (
          <>
            {paid ? 'It is paid, so an agent of pool ' : 'Once the payment succeeds, an agent of pool '}
            <b>{pool?.name ?? poolId}</b>
            {paid ? ' can start building it at once.' : ' builds it.'}
          </>
        ) : paid ? (
          'It is paid, so provisioning could start now, but no pool will take it.'
        ) : (
          'Once the payment succeeds it needs a pool to be built in, and none will take it.'
        )}
      </p>
      {!poolId && (
        <p className="notice notice-warn" role="alert" data-accept-no-pool>
          Offering <span className="mono">{contract.offering_id}</span> routes to no pool: it names none and you have no{type ? ` ${type}` : ''} pool in region{' '}
          <b>{region}</b>. Accepted and paid, the contract waits (shown as &quot;waiting: no pool&quot;) until you create a{type ? ` ${type}` : ''} pool in {region} or
          set the offering&apos;s pool.
        </p>
      )}
      {pool?.paused && (
        <p className="notice notice-warn" data-accept-paused>
          Pool <b>{pool.name}</b> is paused:{' '}
          {fallback ? (
            <>
              the contract goes to its fallback pool <b>{fallback.name}</b> if an agent there can take it.
            </>
          ) : (
            'the contract waits until you resume it.'
          )}
        </p>
      )}
      {pool && !pool.paused && pool.online_count === 0 && (
        <p className="notice notice-warn" data-accept-offline>
          No agent of pool <b>{pool.name}</b> is online now{fallback ? `; its fallback ${fallback.name} takes the work when no agent here can` : ''}.
        </p>
      )}
      {accept.error && (
        <p className="form-error" role="alert">
          {errorMessage(accept.error)}
        </p>
      )}
    </Dialog>
  );
}

/** Reject: the order ends, for good. */
function RejectDialog({ contract, onClose }: { contract: Contract; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const reject = useMutation({
    mutationFn: () => c.call('rejectContract', { params: { id: contract.contract_id } }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      onClose();
    },
  });
  return (
    <Dialog
      title={`Reject ${contract.offering_name ?? contract.offering_id} (${contract.contract_id.slice(0, 8)})?`}
      onClose={onClose}
      name="reject"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Keep it
          </button>
          <button type="button" className="btn btn-danger" data-action="confirm-reject" disabled={reject.isPending} onClick={() => reject.mutate()}>
            {reject.isPending ? 'Working…' : 'Reject order'}
          </button>
        </>
      }
    >
      <p>The customer&apos;s order is refused and the contract ends as rejected; nothing is built. This cannot be undone.</p>
      {reject.error && (
        <p className="form-error" role="alert">
          {errorMessage(reject.error)}
        </p>
      )}
    </Dialog>
  );
}

/** What the provider is about to end: offering, contract, the machine's facts and who built it. */
function MachineSummary({ contract, provider }: { contract: Contract; provider: string }) {
  const labels = agentLabels(contract);
  const builder = contract.provisioned_by ?? contract.lock_agent;
  return (
    <dl className="kv" data-machine>
      <dt>Offering</dt>
      <dd data-machine-offering>
        {contract.offering_name ?? ''} <span className="mono muted">{contract.offering_id}</span>
      </dd>
      <dt>Contract</dt>
      <dd className="mono" data-machine-contract>
        {contract.contract_id}
      </dd>
      {machineFacts(contract).map((f) => (
        <Fragment key={f.label}>
          <dt>{f.label}</dt>
          <dd className="mono" data-machine-fact={f.label}>
            {f.value}
          </dd>
        </Fragment>
      ))}
      <dt>{contract.provisioned_by ? 'Built by' : 'Being built by'}</dt>
      <dd data-machine-builder>
        {builder ? (
          <AgentName agentKey={builder} label={labels.get(builder)} provider={provider} />
        ) : contract.lock_token > 0 ? (
          <span className="muted">the agent that last took it (lease #{contract.lock_token})</span>
        ) : (
          <span className="muted">nobody yet</span>
        )}
      </dd>
      <dt>Customer</dt>
      <dd className="mono muted">{contract.customer_pubkey}</dd>
    </dl>
  );
}

/** The provider's terminate: names the machine first; the agent that built it tears it down. */
function TerminateDialog({ contract, onClose }: { contract: Contract; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [reason, setReason] = useState('');
  const outcome = terminateOutcome(contract);
  const terminate = useMutation({
    mutationFn: () => c.call('terminateContract', { params: { id: contract.contract_id }, body: reason.trim() ? { reason: reason.trim() } : {} }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      void qc.invalidateQueries({ queryKey: queryKeys.events(contract.contract_id) });
      onClose();
    },
  });
  const what = contract.offering_name ?? contract.offering_id;
  return (
    <Dialog
      title={`Terminate ${what} (${contract.contract_id.slice(0, 8)})?`}
      onClose={onClose}
      name="terminate"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Keep it
          </button>
          <button type="button" className="btn btn-danger" data-action="confirm-terminate" disabled={terminate.isPending} onClick={() => terminate.mutate()}>
            {terminate.isPending ? 'Working…' : outcome === 'cancelled' ? 'Cancel contract' : 'Terminate machine'}
          </button>
        </>
      }
    >
      <MachineSummary contract={contract} provider={c.publicKey} />
      <p data-terminate-outcome>
        {outcome === 'cancelled' ? (
          <>No agent has taken this contract, so no machine exists: it ends as cancelled at once.</>
        ) : (
          <>
            The contract ends and its machine is destroyed: the agent that built it removes whatever carries the tag{' '}
            <span className="mono">{machineTag(contract.contract_id)}</span> and confirms. The contract reads terminating until then. The customer loses
            the machine and its data; this cannot be undone.
          </>
        )}
      </p>
      <label className="field">
        <span>Reason (optional, recorded in the history)</span>
        <input name="reason" value={reason} maxLength={HANDOFF_NOTE_MAX} onChange={(e) => setReason(e.target.value)} />
      </label>
      {terminate.error && (
        <p className="form-error" role="alert">
          {errorMessage(terminate.error)}
        </p>
      )}
    </Dialog>
  );
}

/** The provider confirms by hand that a machine is gone (a failed or handed-off teardown). */
function MarkTerminatedDialog({ contract, onClose }: { contract: Contract; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [note, setNote] = useState('');
  const mark = useMutation({
    mutationFn: () => c.call('terminated', { params: { id: contract.contract_id }, body: note.trim() ? { note: note.trim() } : {} }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      void qc.invalidateQueries({ queryKey: queryKeys.events(contract.contract_id) });
      onClose();
    },
  });
  return (
    <Dialog
      title={`Mark ${contract.offering_name ?? contract.offering_id} (${contract.contract_id.slice(0, 8)}) terminated?`}
      onClose={onClose}
      name="mark-terminated"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" data-action="confirm-terminated" disabled={mark.isPending} onClick={() => mark.mutate()}>
            {mark.isPending ? 'Working…' : 'Mark terminated'}
          </button>
        </>
      }
    >
      <MachineSummary contract={contract} provider={c.publicKey} />
      <p>
        This destroys nothing: it records that the machine is gone. Check first that nothing tagged <span className="mono">{machineTag(contract.contract_id)}</span>{' '}
        is left on the host.
      </p>
      {contract.lock_agent && (
        <p className="warn" data-fenced>
          <AgentName agentKey={contract.lock_agent} label={contract.lock_agent_label} provider={c.publicKey} /> holds its teardown lease (#{contract.lock_token}); the
          lease ends here and that agent&apos;s own confirmation will be refused.
        </p>
      )}
      <label className="field">
        <span>Note (optional, recorded in the history)</span>
        <input name="note" value={note} maxLength={HANDOFF_NOTE_MAX} onChange={(e) => setNote(e.target.value)} />
      </label>
      {mark.error && (
        <p className="form-error" role="alert">
          {errorMessage(mark.error)}
        </p>
      )}
    </Dialog>
  );
}

/** Completes a handed-off contract (provider-signed `provisioned`) or reports it failed. */
function CompleteDialog({ contract, onClose }: { contract: Contract; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [f, setF] = useState({ ip_address: '', hostname: (contract.instance_config as { hostname?: string } | null)?.hostname ?? '', username: 'root', notes: '', extra: '' });
  const [failMessage, setFailMessage] = useState('');
  const done = () => {
    void qc.invalidateQueries({ queryKey: queryKeys.contracts });
    void qc.invalidateQueries({ queryKey: queryKeys.events(contract.contract_id) });
    onClose();
  };
  const complete = useMutation({
    mutationFn: () => {
      let extra: Record<string, unknown> = {};
      if (f.extra.trim()) {
        try {
          extra = JSON.parse(f.extra) as Record<string, unknown>;
        } catch {
          throw new Error('Extra details must be a JSON object.');
        }
        if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('Extra details must be a JSON object.');
      }
      const details: Record<string, unknown> = { ...extra };
      for (const k of ['ip_address', 'hostname', 'username', 'notes'] as const) if (f[k].trim()) details[k] = f[k].trim();
      if (Object.keys(details).length === 0) throw new Error('Give at least the address the customer connects to.');
      // Provider-signed confirmation of a handed-off contract (no lock token).
      return c.call('provisioned', { params: { id: contract.contract_id }, body: { instance_details: details } });
    },
    onSuccess: done,
  });
  // Back to accepted with a back-off, like an agent's failed attempt.
  const fail = useMutation({
    mutationFn: () => c.call('failed', { params: { id: contract.contract_id }, body: { error_message: failMessage.trim() } }),
    onSuccess: done,
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  return (
    <Dialog title={`Complete contract ${contract.contract_id.slice(0, 8)}`} onClose={onClose} name="complete">
      <p className="muted">
        An agent handed this contract off for manual provisioning. Enter what the customer needs to reach the machine; it is recorded as
        provisioned by you.
      </p>
      <form
        className="form-grid form-2col"
        onSubmit={(e) => {
          e.preventDefault();
          complete.mutate();
        }}
      >
        <label className="field">
          <span>IP address</span>
          <input name="ip_address" value={f.ip_address} onChange={set('ip_address')} placeholder="203.0.113.10" autoFocus />
        </label>
        <label className="field">
          <span>Hostname</span>
          <input name="hostname" value={f.hostname} onChange={set('hostname')} />
        </label>
        <label className="field">
          <span>Login user</span>
          <input name="username" value={f.username} onChange={set('username')} />
        </label>
        <label className="field">
          <span>Notes for the customer</span>
          <input name="notes" value={f.notes} onChange={set('notes')} />
        </label>
        <label className="field span-2">
          <span>Extra details (JSON object, optional)</span>
          <textarea name="extra" rows={2} value={f.extra} onChange={set('extra')} spellCheck={false} />
        </label>
        {complete.error && (
          <p className="form-error span-2" role="alert">
            {errorMessage(complete.error)}
          </p>
        )}
        <div className="form-actions span-2">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={complete.isPending}>
            Mark provisioned
          </button>
        </div>
      </form>
      <details className="fail-box">
        <summary>Could not provision it?</summary>
        <form
          className="form-inline"
          onSubmit={(e) => {
            e.preventDefault();
            fail.mutate();
          }}
        >
          <input name="error_message" placeholder="What went wrong" value={failMessage} onChange={(e) => setFailMessage(e.target.value)} required />
          <button type="submit" className="btn btn-danger-text" disabled={fail.isPending || !failMessage.trim()}>
            Report failure
          </button>
        </form>
        {fail.error && <p className="form-error">{errorMessage(fail.error)}</p>}
      </details>
    </Dialog>
  );
}
