// What commands print: `--output table` (aligned columns, or "field  value" lines for one object)
// for people, `--output json` (the API's objects as they came) for scripts, and `--quiet` (ids
// only, one a line) for `$(…)`. Data goes to stdout; notes for people go to stderr.

export type OutputFormat = 'table' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json'];

export type Cell = string | number | boolean | null | undefined;

/** A cell as text: '-' for nothing, numbers and booleans as written. */
export function cellText(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(cellText))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/** One object as "field  value" lines. */
export function fields(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}`).join('\n') + '\n';
}

/** A JSON object inline in a table cell. */
export function compactJson(v: unknown): string {
  return v === null || v === undefined ? '-' : JSON.stringify(v);
}

/** A price with two decimals and its currency. */
export function price(amount: number, currency: string): string {
  return `${amount.toFixed(2)} ${currency}`;
}

export interface Rendering {
  /** What `--output json` prints. */
  json: unknown;
  /** What `--output table` prints. */
  text: () => string;
  /** What `--quiet` prints, one a line (defaults to the text). */
  ids?: () => string[];
  /** A note for people on stderr in table mode (counts, next steps). */
  note?: string | null;
}

export interface Printer {
  format: OutputFormat;
  quiet: boolean;
  out(s: string): void;
  err(s: string): void;
}

export function render(p: Printer, r: Rendering): void {
  if (p.format === 'json') {
    p.out(JSON.stringify(r.json, null, 2) + '\n');
    return;
  }
  if (p.quiet && r.ids) {
    const ids = r.ids();
    if (ids.length) p.out(ids.join('\n') + '\n');
    return;
  }
  p.out(r.text());
  if (r.note && !p.quiet) p.err(r.note.endsWith('\n') ? r.note : r.note + '\n');
}
