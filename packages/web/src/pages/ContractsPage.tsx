// /dashboard/provider/contracts: status, routing, the current lease (holder and expiry), attempts
// and last error, who provisioned it; accept/reject/retry, the lock history as a timeline, and
// completing contracts an agent handed off for manual provisioning.
import { useEffect, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { CONTRACT_STATUSES, providerActionsFor, type Contract, type ContractStatus, type EndpointName, type ProviderAction } from '@dc/core';
import { useContractEvents, useContracts, usePools } from '../queries.js';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { Dialog } from '../components/Dialog.js';
import { Countdown, ErrorBox, RelativeTime, StatusBadge } from '../components/bits.js';
import { absoluteTime } from '../lib/time.js';
import { Pager } from '../components/Pager.js';

const col = createColumnHelper<Contract>();
/** Contracts per page. */
const CONTRACTS_PAGE_SIZE = 100;

/** How each action core's state table offers is shown and which endpoint performs it. */
const ACTIONS: Record<ProviderAction, { label: string; className: string; endpoint: EndpointName & `${ProviderAction}Contract` }> = {
  accept: { label: 'Accept', className: 'btn btn-small btn-primary', endpoint: 'acceptContract' },
  reject: { label: 'Reject', className: 'btn btn-small btn-danger-text', endpoint: 'rejectContract' },
  retry: { label: 'Retry', className: 'btn btn-small', endpoint: 'retryContract' },
};

/** The labels a contract carries for the agents it names (its lock holder, who provisioned it). */
function agentLabels(c: Contract): Map<string, string | null> {
  const m = new Map<string, string | null>();
  if (c.lock_agent) m.set(c.lock_agent, c.lock_agent_label);
  if (c.provisioned_by) m.set(c.provisioned_by, c.provisioned_by_label);
  return m;
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
  const poolNames = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p.name])), [pools.data]);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [completing, setCompleting] = useState<Contract | null>(null);

  const decide = useMutation({
    mutationFn: (a: { id: string; action: ProviderAction }) => c.call(ACTIONS[a.action].endpoint, { params: { id: a.id } }),
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: queryKeys.contracts });
      void qc.invalidateQueries({ queryKey: queryKeys.events(r.contract_id) });
    },
  });

  const columns = [
    col.accessor('created_at', { header: 'Created', cell: (i) => <RelativeTime iso={i.getValue()} /> }),
    col.accessor('contract_id', { header: 'Contract', cell: (i) => <span className="mono" title={i.getValue()}>{i.getValue().slice(0, 8)}</span> }),
    col.accessor('status', { header: 'Status', cell: (i) => <StatusBadge status={i.getValue()} kind="contract" /> }),
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
    col.accessor('resolved_pool_id', {
      header: 'Pool',
      cell: (i) => {
        const id = i.getValue();
        return id ? poolNames.get(id) ?? <span className="mono">{id}</span> : <span className="warn">⚠ none</span>;
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
              <button key={action} type="button" className={ACTIONS[action].className} disabled={busy} onClick={() => decide.mutate({ id: r.contract_id, action })}>
                {ACTIONS[action].label}
              </button>
            ))}
            {r.status === 'provisioning' && (
              <button type="button" className="btn btn-small btn-primary" onClick={() => setCompleting(r)}>
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
        renderExpanded={(r) => <ContractDetail contract={r} provider={c.publicKey} />}
      />
      <Pager
        page={page}
        pages={pages}
        onPage={(n) => setView((v) => ({ ...v, page: n }))}
      />
      {completing && <CompleteDialog contract={completing} onClose={() => setCompleting(null)} />}
    </section>
  );
}

function ContractDetail({ contract, provider }: { contract: Contract; provider: string }) {
  const events = useContractEvents(contract.contract_id);
  // Events name agents by key; those the contract names carry its labels, others their key.
  const labels = agentLabels(contract);
  return (
    <div className="contract-detail" data-contract-detail={contract.contract_id}>
      <div>
        <h3>Lock history</h3>
        {events.isPending && <p className="muted">Loading…</p>}
        <ErrorBox error={events.error} />
        {events.data && events.data.length === 0 && <p className="muted">No lock events yet (no agent has taken this contract).</p>}
        <ol className="timeline" data-timeline>
          {(events.data ?? []).map((e) => (
            <li key={e.event_id} className={`ev ev-${e.event}`} data-event={e.event}>
              <time dateTime={e.at} title={absoluteTime(e.at)}>
                {absoluteTime(e.at)}
              </time>
              <span className="ev-name">{e.event.replace(/_/g, ' ')}</span>
              <span className="muted">token #{e.lock_token}</span>
              <span>
                <AgentName agentKey={e.agent_pubkey} label={e.agent_pubkey ? labels.get(e.agent_pubkey) : null} provider={provider} />
              </span>
              {e.detail && <span className="ev-detail">{e.detail}</span>}
            </li>
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
        </dl>
      </div>
    </div>
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
