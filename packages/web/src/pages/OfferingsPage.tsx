// /dashboard/provider/offerings: server-side filtered and paginated (50 a page) offerings with
// their resolved pool: explicit, "(auto: region)", or a warning when no pool matches.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { OFFERING_STATUSES, type Offering, type OfferingListQuery, type OfferingStatus, type Pool } from '@dc/core';
import { offeringsQuery, useOfferings, usePools } from '../queries.js';
import { useClient } from '../session.js';
import { DataTable } from '../components/DataTable.js';
import { ErrorBox, StatusBadge } from '../components/bits.js';
import { downloadText, formatPrice } from '../lib/format.js';
import { useSettled } from '../lib/debounce.js';
import { whenIdle } from '../lib/idle.js';
import { Pager } from '../components/Pager.js';
import { OfferingDialog } from './OfferingDialog.js';
import { CsvImportDialog } from './CsvImportDialog.js';
import { DeleteOfferingDialog } from './DeleteOfferingDialog.js';

const col = createColumnHelper<Offering>();
const DEFAULT_TYPES = ['compute', 'dedicated'];
/** Offerings per page (the server pages; bench/ui-bench.mjs expects 50). */
const OFFERINGS_PAGE_SIZE = 50;

interface Filters {
  pool_id: string;
  type: string;
  status: OfferingStatus | '';
  q: string;
  page: number;
}

function readFilters(p: URLSearchParams): Filters {
  return {
    pool_id: p.get('pool_id') ?? '',
    type: p.get('type') ?? '',
    status: OFFERING_STATUSES.find((st) => st === p.get('status')) ?? '',
    q: p.get('q') ?? '',
    page: Math.max(1, Number(p.get('page') ?? '1') || 1),
  };
}

/** The page of offerings the filters show. */
function listQuery(f: Filters): OfferingListQuery {
  return {
    limit: OFFERINGS_PAGE_SIZE,
    offset: (f.page - 1) * OFFERINGS_PAGE_SIZE,
    ...(f.pool_id ? { pool_id: f.pool_id } : {}),
    ...(f.type ? { product_type: f.type } : {}),
    ...(f.status ? { status: f.status } : {}),
    ...(f.q ? { q: f.q } : {}),
  };
}

function writeFilters(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of ['pool_id', 'type', 'status', 'q'] as const) if (f[k]) p.set(k, f[k]);
  if (f.page > 1) p.set('page', String(f.page));
  return p;
}

type Modal = { kind: 'new' } | { kind: 'edit'; offering: Offering } | { kind: 'delete'; offering: Offering } | { kind: 'import' } | null;

function PoolCell({ o, pools }: { o: Offering; pools: Map<string, Pool> }) {
  const resolved = o.resolved_pool_id ? pools.get(o.resolved_pool_id) : undefined;
  switch (o.pool_match) {
    case 'explicit':
      return (
        <span className="pool-explicit" title="Pool chosen explicitly for this offering">
          {resolved ? <Link to={`/provider/pools/${encodeURIComponent(resolved.pool_id)}`}>{resolved.name}</Link> : o.agent_pool_id}
        </span>
      );
    case 'location':
      return (
        <span className="pool-auto" title={`Routed by location to ${resolved?.name ?? o.resolved_pool_id}`}>
          (auto: {o.datacenter_region}) {resolved && <span className="muted">→ {resolved.name}</span>}
        </span>
      );
    default:
      return (
        <span className="warn pool-none" title={`No ${o.provisioner_type} pool in region ${o.datacenter_region}: contracts for this offering cannot be provisioned`}>
          ⚠ no pool ({o.datacenter_region}, {o.provisioner_type})
        </span>
      );
  }
}

export function OfferingsPage() {
  const c = useClient();
  const qc = useQueryClient();
  // Filters live in component state (updated synchronously, so fast typing and quick successive
  // changes never act on stale values) and are mirrored into the URL for deep links and reloads.
  const [params, setParams] = useSearchParams();
  const [filters, setFilters] = useState<Filters>(() => readFilters(params));
  /** The filters of the last change, ahead of the render that shows them. */
  const latest = useRef(filters);
  const written = useRef(new Set<string>([params.toString()]));
  useEffect(() => {
    const next = writeFilters(filters);
    if (next.toString() === params.toString()) return;
    // The URL is only a mirror, written when the page is next idle: the router's navigation
    // re-renders the page, which must not hold up the request for the new rows.
    return whenIdle(() => {
      written.current.add(next.toString());
      setParams(next, { replace: true });
    });
  }, [filters]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    // A URL this page did not write (a link, back/forward) replaces the filters.
    if (!written.current.has(params.toString())) {
      written.current.add(params.toString());
      change(readFilters(params));
    }
  }, [params]); // eslint-disable-line react-hooks/exhaustive-deps
  // While the search box is being typed in, the table keeps asking for what it shows (its last
  // query); the new term goes out once typing pauses.
  const settledSearch = useSettled(filters.q, undefined, (term) => {
    if (term === latest.current.q) void qc.prefetchQuery(offeringsQuery(c, listQuery(latest.current)));
  });
  const shown = useRef<{ filters: Filters; q: OfferingListQuery } | null>(null);
  if (!shown.current || settledSearch === filters.q) shown.current = { filters, q: listQuery(filters) };
  const q = shown.current.q;
  const page = shown.current.filters.page;
  const offerings = useOfferings(q);
  /**
   * Applies new filters. Their page is asked for here, in the input event, so the request is on
   * its way while React renders (the query below then finds it in flight); a search term still
   * being typed waits for its pause instead.
   */
  const change = (next: Filters) => {
    latest.current = next;
    if (next.q === '' || next.q === shown.current?.filters.q) void qc.prefetchQuery(offeringsQuery(c, listQuery(next)));
    setFilters(next);
  };
  const pools = usePools();
  const poolMap = useMemo(() => new Map((pools.data ?? []).map((p) => [p.pool_id, p])), [pools.data]);
  const [modal, setModal] = useState<Modal>(null);
  const [exportError, setExportError] = useState<unknown>(null);
  const [exporting, setExporting] = useState(false);

  // Product types are free text: offer the ones seen so far plus the common ones.
  const seenTypes = useRef(new Set(DEFAULT_TYPES));
  for (const o of offerings.data?.items ?? []) seenTypes.current.add(o.product_type);
  if (filters.type) seenTypes.current.add(filters.type);
  const types = [...seenTypes.current].sort();

  const update = (changes: Partial<Omit<Filters, 'page'>>) => change({ ...latest.current, ...changes, page: 1 });

  const columns = useMemo(
    () => [
      col.accessor('offering_id', { header: 'ID', cell: (i) => <span className="mono">{i.getValue()}</span> }),
      col.accessor('name', { header: 'Name' }),
      col.accessor('product_type', { header: 'Type' }),
      col.accessor('datacenter_country', {
        header: 'Location',
        cell: (i) => (
          <>
            {i.getValue()} <span className="muted">{i.row.original.datacenter_region}</span>
          </>
        ),
      }),
      col.display({ id: 'pool', header: 'Pool', cell: (i) => <PoolCell o={i.row.original} pools={poolMap} /> }),
      col.accessor('provisioner_type', { header: 'Provisioner', cell: (i) => <span className="muted">{i.getValue()}</span> }),
      col.accessor('monthly_price', { header: 'Price', meta: { className: 'num' }, cell: (i) => formatPrice(i.getValue(), i.row.original.currency) }),
      col.accessor('status', { header: 'Status', cell: (i) => <StatusBadge status={i.getValue()} kind="offering" /> }),
      col.display({
        id: 'actions',
        header: 'Actions',
        meta: { className: 'actions' },
        cell: (i) => (
          <>
            <button type="button" className="btn btn-small" onClick={() => setModal({ kind: 'edit', offering: i.row.original })}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-danger-text" data-action="delete" onClick={() => setModal({ kind: 'delete', offering: i.row.original })}>
              Delete
            </button>
          </>
        ),
      }),
    ],
    [poolMap],
  );

  const total = offerings.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / OFFERINGS_PAGE_SIZE));

  // The next page is fetched ahead, so "Next" shows at once (and is refreshed when it opens).
  const hasNext = page < pages;
  const nextKey = JSON.stringify(q);
  // Only once this page's answer is in (not for a page still on the previous filter's rows).
  const settled = offerings.isSuccess && !offerings.isPlaceholderData;
  useEffect(() => {
    if (!hasNext || !settled) return;
    const nq = { ...q, offset: page * OFFERINGS_PAGE_SIZE };
    void qc.prefetchQuery({ ...offeringsQuery(c, nq), staleTime: 10_000 });
  }, [nextKey, hasNext, settled]); // eslint-disable-line react-hooks/exhaustive-deps
  const first = total === 0 ? 0 : (page - 1) * OFFERINGS_PAGE_SIZE + 1;
  const last = Math.min(total, page * OFFERINGS_PAGE_SIZE);
  const filtered = !!(q.pool_id || q.product_type || q.status || q.q);

  const doExport = async () => {
    setExporting(true);
    setExportError(null);
    try {
      downloadText('offerings.csv', await c.call('exportOfferings'), 'text/csv');
    } catch (e) {
      setExportError(e);
    } finally {
      setExporting(false);
    }
  };

  return (
    <section>
      <div className="page-head">
        <h1>Offerings</h1>
        <span className="spacer" />
        <button type="button" className="btn" onClick={() => setModal({ kind: 'import' })}>
          Import CSV
        </button>
        <button type="button" className="btn" onClick={() => void doExport()} disabled={exporting} data-action="export">
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
        <button type="button" className="btn btn-primary" onClick={() => setModal({ kind: 'new' })}>
          + New offering
        </button>
      </div>
      <ErrorBox error={exportError} />
      <div className="toolbar">
        <select name="pool" aria-label="Pool" value={filters.pool_id} onChange={(e) => update({ pool_id: e.target.value })}>
          <option value="">All pools</option>
          {(pools.data ?? []).map((p) => (
            <option key={p.pool_id} value={p.pool_id}>
              {p.name}
            </option>
          ))}
          {filters.pool_id && !poolMap.has(filters.pool_id) && <option value={filters.pool_id}>{filters.pool_id}</option>}
        </select>
        <select name="type" aria-label="Type" value={filters.type} onChange={(e) => update({ type: e.target.value })}>
          <option value="">All types</option>
          {types.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <select name="status" aria-label="Status" value={filters.status} onChange={(e) => update({ status: e.target.value as OfferingStatus | '' })}>
          <option value="">All statuses</option>
          {OFFERING_STATUSES.map((st) => (
            <option key={st} value={st}>
              {st}
            </option>
          ))}
        </select>
        <input
          className="filter"
          type="search"
          name="q"
          aria-label="Search"
          placeholder="Search ID or name"
          value={filters.q}
          onChange={(e) => update({ q: e.target.value })}
        />
        {(filtered || filters.q) && (
          <button type="button" className="btn-link" onClick={() => update({ pool_id: '', type: '', status: '', q: '' })}>
            Clear filters
          </button>
        )}
        <span className="spacer" />
        <span className="muted" data-total={total}>
          {offerings.data ? (total === 0 ? 'No offerings' : `Showing ${first}–${last} of ${total}`) : ''}
          {/* Only while new filters load: background refreshes keep the rows and say nothing. */}
          {offerings.isPlaceholderData ? ' · loading' : ''}
        </span>
      </div>
      <DataTable
        name="offerings"
        columns={columns}
        data={offerings.data?.items}
        getRowId={(o) => o.offering_id}
        keyByPosition
        isLoading={offerings.isPending}
        error={offerings.error}
        onRetry={() => void offerings.refetch()}
        rowClassName={(o) => (o.pool_match === 'none' ? 'row-warn' : o.status === 'inactive' ? 'row-inactive' : undefined)}
        empty={
          filtered ? (
            'No offering matches these filters.'
          ) : (
            <>
              No offerings yet.{' '}
              <button type="button" className="btn-link" onClick={() => setModal({ kind: 'new' })}>
                Create one
              </button>{' '}
              or import a CSV file.
            </>
          )
        }
      />
      <Pager page={page} pages={pages} onPage={(n) => change({ ...latest.current, page: n })} />
      {modal?.kind === 'new' && <OfferingDialog pools={pools.data} types={types} onClose={() => setModal(null)} />}
      {modal?.kind === 'edit' && <OfferingDialog offering={modal.offering} pools={pools.data} types={types} onClose={() => setModal(null)} />}
      {modal?.kind === 'delete' && <DeleteOfferingDialog offering={modal.offering} onClose={() => setModal(null)} />}
      {modal?.kind === 'import' && <CsvImportDialog onClose={() => setModal(null)} />}
    </section>
  );
}
