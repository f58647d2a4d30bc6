// Input no schema keyword can refuse but the database or the JSON code would fail on with a 500:
// U+0000 (PostgreSQL text and jsonb cannot hold it), lone UTF-16 surrogates, JSON nested deeper
// than any real document (JSON.stringify, ajv and jsonb input all recurse per level and overflow
// the stack on ~10^5 levels), and numbers too large to be exact. Used by the HTTP guard
// (http/input-guard.ts) for every request and by the CSV import for its JSON cells.

/** Deepest JSON accepted in a body: provisioner configs and instance details are a few levels. */
export const MAX_JSON_DEPTH = 64;

/** Returns a sentence naming the problem, or null. Iterative, so deep input cannot overflow it. */
export function inputProblem(part: string, value: unknown): string | null {
  const stack: { v: unknown; depth: number; at: string }[] = [{ v: value, depth: 0, at: part }];
  while (stack.length > 0) {
    const { v, depth, at } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return `${at} contains a NUL character (U+0000), which cannot be stored.`;
      if (!isWellFormed(v)) return `${at} contains an unpaired UTF-16 surrogate, which is not valid Unicode.`;
      continue;
    }
    // Beyond 2^53 a JSON number is not exact, and it would overflow a bigint column (lock_token).
    if (typeof v === 'number' && Math.abs(v) > Number.MAX_SAFE_INTEGER) return `${at} is too large (at most ${Number.MAX_SAFE_INTEGER}).`;
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v)) continue;
    if (depth >= MAX_JSON_DEPTH) return `${part} is nested more than ${MAX_JSON_DEPTH} levels deep.`;
    for (const [k, child] of Object.entries(v)) {
      if (k.includes('\u0000')) return `${at} has a field name with a NUL character (U+0000), which cannot be stored.`;
      if (!isWellFormed(k)) return `${at} has a field name with an unpaired UTF-16 surrogate.`;
      const name = k.length > 64 ? `${k.slice(0, 64)}…` : k;
      stack.push({ v: child, depth: depth + 1, at: Array.isArray(v) ? `${at}[${name}]` : `${at}.${name}` });
    }
  }
  return null;
}

/** No lone surrogates (JSON allows "\ud800"; PostgreSQL's jsonb and text do not). */
function isWellFormed(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}
