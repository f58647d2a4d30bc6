// Page buttons: first, last, and two either side of the current page.
export function Pager({ page, pages, onPage }: { page: number; pages: number; onPage: (n: number) => void }) {
  if (pages <= 1) return null;
  const nums = new Set<number>([1, pages]);
  for (let n = page - 2; n <= page + 2; n++) if (n >= 1 && n <= pages) nums.add(n);
  const sorted = [...nums].sort((a, b) => a - b);
  const out: (number | 'gap')[] = [];
  sorted.forEach((n, i) => {
    if (i > 0 && n - (sorted[i - 1] as number) > 1) out.push('gap');
    out.push(n);
  });
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => onPage(page - 1)} aria-label="Previous page">
        ‹ Prev
      </button>
      {out.map((n, i) =>
        n === 'gap' ? (
          <span key={`g${i}`} className="muted">
            …
          </span>
        ) : (
          <button key={n} type="button" className={n === page ? 'btn btn-small current' : 'btn btn-small'} aria-current={n === page ? 'page' : undefined} onClick={() => onPage(n)}>
            {n}
          </button>
        ),
      )}
      <button type="button" className="btn btn-small" disabled={page >= pages} onClick={() => onPage(page + 1)} aria-label="Next page">
        Next ›
      </button>
    </nav>
  );
}
