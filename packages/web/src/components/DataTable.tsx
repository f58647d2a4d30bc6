// The dense table every page uses: TanStack Table for columns and (optional) client-side sorting,
// 28 px rows, sticky header, explicit loading / error / empty rows.
import { memo, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import {
  flexRender,
  getCoreRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnDef,
  type Row,
  type SortingState,
} from '@tanstack/react-table';
import { errorMessage } from '../api/client.js';
import { Pager } from './Pager.js';

interface DataTableProps<T> {
  /** Names the table for tests and the benchmark (`data-table` attribute). */
  name: string;
  columns: ColumnDef<T, any>[];
  data: T[] | undefined;
  getRowId: (row: T) => string;
  isLoading?: boolean;
  error?: unknown;
  onRetry?: () => void;
  empty: ReactNode;
  onRowClick?: (row: T) => void;
  rowClassName?: (row: T) => string | undefined;
  sortable?: boolean;
  /** Rendered under a row when it is expanded. */
  expandedRowId?: string | null;
  renderExpanded?: (row: T) => ReactNode;
  /**
   * Rows keyed by position, for a page the server cut: the next page or filter rewrites the cells
   * of the rows on screen instead of removing every row and building new ones (no elements
   * created or dropped, so a smaller commit and style pass). Only for cells without state of their
   * own, which would stay with the position rather than the item.
   */
  keyByPosition?: boolean;
  /** A page the server cut (`data` is that page): the same footer, with the server's total. */
  serverPage?: { offset: number; total: number; pageSize: number; onPage: (page: number) => void };
}

/** Tables that have put a performance mark on this page load (read by bench/ui-bench.mjs). */
const marked = new Set<string>();

export function DataTable<T>(p: DataTableProps<T>) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const table = useReactTable<T>({
    data: p.data ?? [],
    columns: p.columns,
    getRowId: p.getRowId,
    getCoreRowModel: getCoreRowModel(),
    ...(p.sortable ? { getSortedRowModel: getSortedRowModel(), onSortingChange: setSorting } : { enableSorting: false }),
    state: { sorting },
  });
  const rows = table.getRowModel().rows;
  const colCount = p.columns.length;
  const ref = useRef<HTMLTableElement>(null);
  // Rows get one stable click handler, so memoised rows are not re-rendered for a new closure.
  const clickRef = useRef(p.onRowClick);
  clickRef.current = p.onRowClick;
  const onRowClick = useCallback((row: T) => clickRef.current?.(row), []);

  useEffect(() => {
    // A performance mark the first time each table shows data rows: `dc:rows:{name}`.
    if (rows.length > 0 && !marked.has(p.name)) {
      marked.add(p.name);
      performance.mark(`dc:rows:${p.name}`);
    }
  }, [rows.length, p.name]);

  let status: ReactNode = null;
  if (p.error && !p.data) {
    status = (
      <tr className="dt-status dt-error">
        <td colSpan={colCount}>
          <span role="alert">Could not load: {errorMessage(p.error)}</span>
          {p.onRetry && (
            <button type="button" className="btn btn-small" onClick={p.onRetry}>
              Retry
            </button>
          )}
        </td>
      </tr>
    );
  } else if (p.isLoading && !p.data) {
    status = (
      <tr className="dt-status dt-loading">
        <td colSpan={colCount}>Loading…</td>
      </tr>
    );
  } else if (rows.length === 0) {
    status = (
      <tr className="dt-status dt-empty">
        <td colSpan={colCount}>{p.empty}</td>
      </tr>
    );
  }

  return (
    <div className="dt-wrap">
      <table className="dt" data-table={p.name} ref={ref}>
        <thead>
          {table.getHeaderGroups().map((hg) => (
            <tr key={hg.id}>
              {hg.headers.map((h) => {
                const sortDir = h.column.getIsSorted();
                const canSort = p.sortable && h.column.getCanSort();
                const meta = h.column.columnDef.meta as { className?: string } | undefined;
                return (
                  <th
                    key={h.id}
                    className={[meta?.className, canSort ? 'sortable' : ''].filter(Boolean).join(' ') || undefined}
                    onClick={canSort ? h.column.getToggleSortingHandler() : undefined}
                    aria-sort={sortDir === 'asc' ? 'ascending' : sortDir === 'desc' ? 'descending' : undefined}
                  >
                    {h.isPlaceholder ? null : flexRender(h.column.columnDef.header, h.getContext())}
                    {sortDir === 'asc' ? ' ▲' : sortDir === 'desc' ? ' ▼' : ''}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody>
          {status}
          {rows.map((row, i) => {
            const expanded = p.expandedRowId != null && p.expandedRowId === row.id;
            return [
              <BodyRow
                key={p.keyByPosition ? i : row.id}
                row={row}
                original={row.original}
                columns={p.columns}
                className={[p.onRowClick ? 'clickable' : '', p.rowClassName?.(row.original) ?? '', expanded ? 'expanded' : ''].filter(Boolean).join(' ') || undefined}
                onClick={p.onRowClick ? onRowClick : undefined}
              />,
              expanded && p.renderExpanded ? (
                <tr key={`${row.id}-detail`} className="dt-detail">
                  <td colSpan={colCount}>{p.renderExpanded(row.original)}</td>
                </tr>
              ) : null,
            ];
          })}
        </tbody>
      </table>
      {p.serverPage && p.serverPage.total > p.serverPage.pageSize ? (
        <div className="dt-foot">
          <span className="muted" data-page-info>
            Showing {p.serverPage.offset + 1}–{p.serverPage.offset + rows.length} of {p.serverPage.total}
          </span>
          <Pager
            page={Math.floor(p.serverPage.offset / p.serverPage.pageSize) + 1}
            pages={Math.max(1, Math.ceil(p.serverPage.total / p.serverPage.pageSize))}
            onPage={p.serverPage.onPage}
          />
        </div>
      ) : null}
    </div>
  );
}

interface BodyRowProps<T> {
  row: Row<T>;
  /** Compared by identity: React Query keeps unchanged items identical across polls. */
  original: T;
  columns: ColumnDef<T, any>[];
  className: string | undefined;
  onClick: ((row: T) => void) | undefined;
}

function BodyRowView<T>({ row, className, onClick }: BodyRowProps<T>) {
  return (
    <tr
      data-row={row.id}
      className={className}
      onClick={
        onClick
          ? (e) => {
              // Buttons and links inside the row do their own thing.
              if ((e.target as HTMLElement).closest('button, a, input, select, label')) return;
              onClick(row.original);
            }
          : undefined
      }
    >
      {row.getVisibleCells().map((cell) => {
        const meta = cell.column.columnDef.meta as { className?: string } | undefined;
        return (
          // Keyed by column: a row reused for another item keeps its cells.
          <td key={cell.column.id} className={meta?.className} data-col={cell.column.id}>
            {flexRender(cell.column.columnDef.cell, cell.getContext())}
          </td>
        );
      })}
    </tr>
  );
}

/**
 * A row re-renders only when its item, the column definitions or its class change: filtering or
 * a poll that changed three agents out of 1,000 touches three rows, not 1,000.
 */
const BodyRow = memo(
  BodyRowView,
  (a, b) => a.original === b.original && a.columns === b.columns && a.className === b.className && a.onClick === b.onClick && a.row.id === b.row.id,
) as typeof BodyRowView;
