// /dashboard/provider/audit: who did what, newest first, as GitHub's audit log shows it. Filter
// and cursors live in the URL (`?kind=&before=&after=`), so a page of the log can be linked to.
// Paging is by id cursors, never offsets: rows written meanwhile neither repeat nor go missing.
import { useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { createColumnHelper } from '@tanstack/react-table';
import { AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditQuery } from '@dc/core';
import { useAudit } from '../queries.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { RelativeTime } from '../components/bits.js';
import { absoluteTime } from '../lib/time.js';

/** Rows per page. */
const AUDIT_PAGE_SIZE = 50;
const col = createColumnHelper<AuditEvent>();

const kindWords = (k: string) => k.replace(/_/g, ' ');

function readQuery(p: URLSearchParams): AuditQuery {
  const q: AuditQuery = { limit: AUDIT_PAGE_SIZE };
  const kind = AUDIT_KINDS.find((k) => k === p.get('kind'));
  if (kind) q.kind = kind;
  const cursor = (name: string) => {
    const v = p.get(name);
    return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const before = cursor('before');
  const after = cursor('after');
  if (before !== undefined) q.before = before;
  else if (after !== undefined) q.after = after;
  return q;
}

function writeQuery(kind: AuditKind | undefined, cursor: { before: number } | { after: number } | null): URLSearchParams {
  const p = new URLSearchParams();
  if (kind) p.set('kind', kind);
  if (cursor && 'before' in cursor) p.set('before', String(cursor.before));
  if (cursor && 'after' in cursor) p.set('after', String(cursor.after));
  return p;
}

/** Where the subject lives in the dashboard; null when it has no page (a deleted pool, the provider). */
function subjectPath(e: AuditEvent): string | null {
  const s = e.subject;
  switch (s.type) {
    case 'pool':
      return e.kind === 'pool_deleted' ? null : `/provider/pools/${encodeURIComponent(s.id)}`;
    case 'agent':
    case 'token':
      return s.pool_id ? `/provider/pools/${encodeURIComponent(s.pool_id)}` : null;
    case 'offering':
      return `/provider/offerings?q=${encodeURIComponent(s.id)}`;
    case 'contract':
      return `/provider/contracts`;
    case 'provider':
      return null;
  }
}

/** The detail object as "key: value" text (agent- and customer-supplied values stay text). */
function detailText(d: AuditEvent['detail']): string {
  if (!d) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
}

export function AuditPage() {
  const c = useClient();
  const [params, setParams] = useSearchParams();
  const q = readQuery(params);
  const audit = useAudit(q);
  const items = audit.data?.items;
  const atNewest = q.before === undefined && q.after === undefined;

  const columns = useMemo(
    () => [
      col.accessor('at', {
        header: 'When (UTC)',
        cell: (i) => (
          <span>
            <span className="mono">{absoluteTime(i.getValue())}</span> <span className="muted">(<RelativeTime iso={i.getValue()} />)</span>
          </span>
        ),
      }),
      col.accessor('kind', { header: 'Event', cell: (i) => <span className={`audit-kind ak-${i.getValue().split('_')[0]}`}>{kindWords(i.getValue())}</span> }),
      col.accessor((e) => `${e.actor_kind} ${e.actor_pubkey ?? ''}`, {
        id: 'actor',
        header: 'Actor',
        cell: (i) => {
          const e = i.row.original;
          if (!e.actor_pubkey) return <span className="muted">{e.actor_kind}</span>;
          return (
            <span title={e.actor_pubkey}>
              {e.actor_kind}{' '}
              {e.actor_pubkey === c.publicKey ? <span className="strong">(you)</span> : <span className="mono muted">{e.actor_pubkey.slice(0, 12)}…</span>}
            </span>
          );
        },
      }),
      col.accessor((e) => `${e.subject.type} ${e.subject.id}`, {
        id: 'subject',
        header: 'Subject',
        cell: (i) => {
          const e = i.row.original;
          const to = subjectPath(e);
          const id = e.subject.type === 'agent' ? `${e.subject.id.slice(0, 12)}…` : e.subject.id;
          return (
            <span title={e.subject.id}>
              <span className="muted">{e.subject.type}</span>{' '}
              {to ? (
                <Link to={to} className="mono" data-subject-link={e.subject.type}>
                  {id}
                </Link>
              ) : (
                <span className="mono">{id}</span>
              )}
            </span>
          );
        },
      }),
      col.accessor((e) => detailText(e.detail), {
        id: 'detail',
        header: 'Detail',
        meta: { className: 'clip' },
        cell: (i) => <span title={i.getValue()}>{i.getValue()}</span>,
      }),
      col.accessor('id', { header: '#', meta: { className: 'num' }, cell: (i) => <span className="mono muted">{i.getValue()}</span> }),
    ],
    [c.publicKey],
  );

  const go = (cursor: { before: number } | { after: number } | null) => setParams(writeQuery(q.kind, cursor));
  const newestId = items?.[0]?.id;
  const nextBefore = audit.data?.next_before ?? null;

  return (
    <section>
      <div className="page-head">
        <h1>Audit log</h1>
        <span className="muted">who changed what: pools, tokens, agents, offerings, contracts and payments</span>
        {audit.isFetching && !audit.isPending ? <span className="muted">· refreshing</span> : null}
      </div>
      <div className="toolbar">
        <label className="check">
          Event
          <select name="kind" value={q.kind ?? ''} onChange={(e) => setParams(writeQuery((e.target.value || undefined) as AuditKind | undefined, null))}>
            <option value="">All events</option>
            {AUDIT_KINDS.map((k) => (
              <option key={k} value={k}>
                {kindWords(k)}
              </option>
            ))}
          </select>
        </label>
        <span className="spacer" />
        <nav className="pager" aria-label="Audit pages">
          <button type="button" className="btn btn-small" data-page="newest" disabled={atNewest} onClick={() => go(null)}>
            « Newest
          </button>
          <button
            type="button"
            className="btn btn-small"
            data-page="newer"
            disabled={atNewest || newestId === undefined || (q.after !== undefined && (items?.length ?? 0) < AUDIT_PAGE_SIZE)}
            onClick={() => newestId !== undefined && go({ after: newestId })}
          >
            ‹ Newer
          </button>
          <button type="button" className="btn btn-small" data-page="older" disabled={nextBefore === null} onClick={() => nextBefore !== null && go({ before: nextBefore })}>
            Older ›
          </button>
        </nav>
      </div>
      <DataTable
        name="audit"
        columns={columns}
        data={items}
        getRowId={(e) => String(e.id)}
        isLoading={audit.isPending}
        error={audit.error}
        onRetry={() => void audit.refetch()}
        empty={
          q.kind
            ? `No "${kindWords(q.kind)}" events${atNewest ? '' : ' on this page'}.`
            : atNewest
              ? 'Nothing recorded yet. Changes to pools, tokens, agents, offerings and contracts appear here.'
              : 'No events on this page.'
        }
      />
    </section>
  );
}
