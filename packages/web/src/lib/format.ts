// Small display helpers.

/** Always two decimals ("5.00 EUR/mo"): prices in a column line up and read as money. */
export function formatPrice(amount: number, currency: string): string {
  return `${amount.toFixed(2)} ${currency}/mo`;
}

/** Saves text as a file through a temporary object URL (no inline script, CSP-safe). */
export function downloadText(filename: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
