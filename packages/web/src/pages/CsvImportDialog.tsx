// CSV import: preview the file, send it, and on refusal show every error of every bad row (nothing
// is imported unless every row is valid: the server's import is all or nothing). The preview wraps
// long cells instead of clipping them; each error is on its own line and marks its cell.
import { Fragment, useMemo, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { CsvImportResult, CsvRowError } from '@dc/core';
import { parseCsvPreview } from '../api/csv.js';
import { ApiError, errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { Dialog } from '../components/Dialog.js';
import { downloadText } from '../lib/format.js';

const COLUMNS = 'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status,provisioner_config';
const PREVIEW_ROWS = 200;

/** The problem without a leading "field:" when the message already names the field shown beside it. */
function problemText(e: CsvRowError): string {
  return e.field && e.message.startsWith(`${e.field}:`) ? e.message.slice(e.field.length + 1).trim() : e.message;
}

/** A column name that may break after its underscores (datacenter_|country), so narrow columns stay whole. */
function ColumnName({ name }: { name: string }) {
  const parts = name.split('_');
  return (
    <>
      {parts.map((p, i) => (
        <Fragment key={i}>
          {p}
          {i < parts.length - 1 && (
            <>
              _<wbr />
            </>
          )}
        </Fragment>
      ))}
    </>
  );
}

/** One line per error: the field (or "row"), then the problem. */
function ErrorLines({ errors }: { errors: CsvRowError[] }) {
  return (
    <ul className="cell-errors">
      {errors.map((e, i) => (
        <li key={i}>
          <span className="mono">{e.field ?? 'row'}</span>: {problemText(e)}
        </li>
      ))}
    </ul>
  );
}

export function CsvImportDialog({ onClose }: { onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState<string | null>(null);
  const [result, setResult] = useState<CsvImportResult | null>(null);
  const preview = useMemo(() => (text.trim() ? parseCsvPreview(text) : null), [text]);
  const run = useMutation({
    // All or nothing: a 400 invalid_csv ApiError carries `rows` with every bad line.
    mutationFn: () => c.call('importOfferings', { body: text }),
    onSuccess: (r) => {
      setResult(r);
      void qc.invalidateQueries({ queryKey: queryKeys.offerings });
      void qc.invalidateQueries({ queryKey: queryKeys.pools });
    },
  });
  const rowErrors: CsvRowError[] = run.error instanceof ApiError ? run.error.rows : [];
  const errorsByLine = useMemo(() => {
    const m = new Map<number, CsvRowError[]>();
    for (const e of rowErrors) m.set(e.line, [...(m.get(e.line) ?? []), e]);
    return m;
  }, [rowErrors]);

  const reset = () => {
    run.reset();
    setResult(null);
  };

  return (
    <Dialog title="Import offerings from CSV" onClose={onClose} wide name="csv-import">
      <p className="muted">
        One offering per row, upserted by offering_id. Columns: <span className="mono">{COLUMNS}</span> (the first six are required).{' '}
        <button type="button" className="btn-link" onClick={() => downloadText('offerings-template.csv', COLUMNS + '\n', 'text/csv')}>
          Download a template
        </button>
      </p>
      <div className="import-src">
        <label className="field">
          <span>CSV file</span>
          <input
            type="file"
            name="csv-file"
            accept=".csv,text/csv,text/plain"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (!f) return;
              setFileName(f.name);
              reset();
              void f.text().then(setText);
            }}
          />
        </label>
        <label className="field grow">
          <span>…or paste it{fileName ? ` (loaded ${fileName})` : ''}</span>
          <textarea
            name="csv-text"
            rows={4}
            spellCheck={false}
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setFileName(null);
              reset();
            }}
          />
        </label>
      </div>

      {run.error && (
        <div className="error-box" role="alert" data-import-error>
          <p>
            <b>Nothing was imported.</b>{' '}
            {rowErrors.length > 0
              ? `${rowErrors.length} error(s) in ${errorsByLine.size} row(s), each listed here and marked in the preview below. Fix them and import again.`
              : errorMessage(run.error)}
          </p>
          {rowErrors.length > 0 && (
            // Every error of every row, also those of rows past the preview's first PREVIEW_ROWS.
            <div className="dt-wrap dt-scroll">
              <table className="dt dt-wrapcells" data-table="csv-errors">
                <thead>
                  <tr>
                    <th className="num">Line</th>
                    <th>Field</th>
                    <th>Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {rowErrors.map((e, i) => (
                    <tr key={i} data-error-line={e.line} data-error-field={e.field ?? ''}>
                      <td className="num">{e.line}</td>
                      <td className="mono">{e.field ?? '—'}</td>
                      <td>{problemText(e)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
      {preview && (
        <div className="csv-preview" data-csv-preview>
          <p className="muted">
            Preview: {preview.records.length} row(s){preview.records.length > PREVIEW_ROWS ? `, first ${PREVIEW_ROWS} shown` : ''}
            {rowErrors.length ? (
              <>
                {' '}
                ·{' '}
                <span className="bad" data-error-summary>
                  {rowErrors.length} error(s) in {errorsByLine.size} row(s)
                </span>
              </>
            ) : null}
          </p>
          <div className="dt-wrap dt-scroll">
            <table className="dt dt-wrapcells" data-table="csv-preview">
              <thead>
                <tr>
                  <th className="num">Line</th>
                  {preview.header.map((h, i) => (
                    <th key={i}>
                      <ColumnName name={h} />
                    </th>
                  ))}
                  <th className="problem">Problem</th>
                </tr>
              </thead>
              <tbody>
                {errorsByLine.get(1) && (
                  <tr className="row-error" data-line={1}>
                    <td className="num">1</td>
                    <td colSpan={preview.header.length}>(header)</td>
                    <td className="bad problem">
                      <ErrorLines errors={errorsByLine.get(1)!} />
                    </td>
                  </tr>
                )}
                {preview.records.slice(0, PREVIEW_ROWS).map((r) => {
                  const errs = errorsByLine.get(r.line);
                  const badFields = new Set((errs ?? []).map((e) => e.field));
                  return (
                    <tr key={r.line} className={errs ? 'row-error' : undefined} data-line={r.line}>
                      <td className="num">{r.line}</td>
                      {preview.header.map((h, i) => (
                        <td key={i} className={[badFields.has(h) ? 'cell-bad' : '', h === 'provisioner_config' ? 'cell-code' : ''].join(' ').trim() || undefined}>
                          {r.cells[i] ?? ''}
                        </td>
                      ))}
                      <td className="bad problem">{errs ? <ErrorLines errors={errs} /> : ''}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </div>
      )}

      {result && (
        <div className="notice notice-ok" role="status" data-import-result>
          Imported {result.imported} offering(s): {result.created} created, {result.updated} updated.
        </div>
      )}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onClose}>
          {result ? 'Close' : 'Cancel'}
        </button>
        <button type="button" className="btn btn-primary" disabled={!preview || preview.records.length === 0 || run.isPending || !!result} onClick={() => run.mutate()}>
          {run.isPending ? 'Importing…' : `Import ${preview?.records.length ?? 0} row(s)`}
        </button>
      </div>
    </Dialog>
  );
}
