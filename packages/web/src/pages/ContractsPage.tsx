// /dashboard/provider/contracts: status, routing, the current lease (holder and expiry), attempts
// and last error, who provisioned it; accept/reject/retry, the lock history as a timeline, and
// completing contracts an agent handed off for manual provisioning.
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import type { Contract, ContractStatus } from '@dc/core';
import { useAgentLabels, useContractEvents, useContracts, usePools } from '../queries.js';
import { completeContract, decideContract, failContract, type ContractDecision } from '../api/contracts.js';
import { CONTRACT_STATUSES, CONTRACTS_PAGE_SIZE } from '../api/constants.js';
import { errorMessage } from '../api/client.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { Dialog } from '../components/Dialog.js';
import { Countdown, ErrorBox, RelativeTime, StatusBadge } from '../components/bits.js';
import { absoluteTime } from '../lib/time.js';
import { Pager } from '../components/Pager.js';

const col = createColumnHelper<Contract>();

export function ContractsPage() {
  const c = useClient();
  const qc = useQueryClient();
  // Local state is the source of truth (synchronous updates); the URL mirrors it for deep links.
  const [params, setParams] = useSearchParams();
  const [view, setView] = useState(() => ({
    status: (params.get('status') ?? '') as ContractStatus | '',
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
  const pools = usePools();
  const labels = useAgentLabels();
  const poolNames = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p.name])), [pools.data]);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [completing, setCompleting] = useState<Contract | null>(null);

  const decide = useMutation({
    mutationFn: (a: { id: string; action: ContractDecision }) => decideContract(c, a.id, a.action),
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ['contracts'] });
      void qc.invalidateQueries({ queryKey: ['events', r.contract_id] });
    },
  });

  const agentName = (key: string | null) => {
    if (!key) return <span className="muted">—</span>;
    if (key === c.publicKey) return <span title={key}>you (provider)</span>;
    const label = labels.get(key);
    return (
      <span className="mono" title={key}>
        {label ? (
          <>
            <span className="sans">{label}</span> <span className="muted">{key.slice(0, 6)}</span>
          </>
        ) : (
          `${key.slice(0, 10)}…`
        )}
      </span>
    );
  };

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
            {agentName(r.lock_agent)} · <Countdown iso={r.lock_expires_at} /> <span className="muted">#{r.lock_token}</span>
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
    col.accessor('provisioned_by', { header: 'Provisioned by', cell: (i) => agentName(i.getValue()) }),
    col.display({
      id: 'actions',
      header: 'Actions',
      meta: { className: 'actions' },
      cell: (i) => {
        const r = i.row.original;
        const busy = decide.isPending && decide.variables?.id === r.contract_id;
        return (
          <>
            {r.status === 'requested' && (
              <>
                <button type="button" className="btn btn-small btn-primary" disabled={busy} onClick={() => decide.mutate({ id: r.contract_id, action: 'accept' })}>
                  Accept
                </button>
                <button type="button" className="btn btn-small btn-danger-text" disabled={busy} onClick={() => decide.mutate({ id: r.contract_id, action: 'reject' })}>
                  Reject
                </button>
              </>
            )}
            {r.status === 'provisioning_failed' && (
              <button type="button" className="btn btn-small" disabled={busy} onClick={() => decide.mutate({ id: r.contract_id, action: 'retry' })}>
                Retry
              </button>
            )}
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
  const setFilter = (s: string) => setView({ status: s as ContractStatus | '', page: 1 });

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
        renderExpanded={(r) => <ContractDetail contract={r} agentName={agentName} />}
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

function ContractDetail({ contract, agentName }: { contract: Contract; agentName: (k: string | null) => ReactNode }) {
  const events = useContractEvents(contract.contract_id);
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
              <span>{agentName(e.agent_pubkey)}</span>
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
    void qc.invalidateQueries({ queryKey: ['contracts'] });
    void qc.invalidateQueries({ queryKey: ['events', contract.contract_id] });
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
      return completeContract(c, contract.contract_id, details);
    },
    onSuccess: done,
  });
  const fail = useMutation({ mutationFn: () => failContract(c, contract.contract_id, failMessage.trim()), onSuccess: done });
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
