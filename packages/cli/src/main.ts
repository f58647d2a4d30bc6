#!/usr/bin/env node
// dcctl entry point. Every failure becomes a message on stderr and an exit code: 1 refused by the
// API (its code, message and a hint), 2 usage, 3 retryable (429, 5xx, network, a wait timed out).
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { ApiError, EXIT_REFUSED, EXIT_USAGE, NetworkError, UsageError, WaitTimeout, hintFor } from './errors.js';

function wantsJson(argv: string[]): boolean {
  const i = argv.findIndex((a) => a === '-o' || a === '--output');
  if (i >= 0) return argv[i + 1] === 'json';
  if (argv.includes('--output=json') || argv.includes('-ojson')) return true;
  return !argv.some((a) => a.startsWith('--output=') || a.startsWith('-o')) && process.env.DC_OUTPUT === 'json';
}

function report(err: unknown, json: boolean): number {
  if (err instanceof ApiError) {
    const hint = err.extra.hint ?? hintFor(err.code, err.status);
    if (json) {
      const body = { error: { code: err.code, message: err.apiMessage, status: err.status, hint, ...(err.extra.rows ? { rows: err.extra.rows } : {}) } };
      process.stderr.write(JSON.stringify(body, null, 2) + '\n');
    } else {
      const lines = [`dcctl: ${err.code} (HTTP ${err.status}): ${err.apiMessage}`];
      for (const r of err.extra.rows ?? []) lines.push(`  line ${r.line}${r.field ? `, ${r.field}` : ''}: ${r.message}`);
      if (err.extra.retryAfter) lines.push(`retry after: ${err.extra.retryAfter} s`);
      lines.push(`hint: ${hint}`);
      process.stderr.write(lines.join('\n') + '\n');
    }
    return err.exitCode;
  }
  if (err instanceof NetworkError) {
    process.stderr.write(json ? JSON.stringify({ error: { code: 'network', message: err.message, hint: err.hint } }, null, 2) + '\n' : `dcctl: ${err.message}\nhint: ${err.hint}\n`);
    return err.exitCode;
  }
  if (err instanceof UsageError || err instanceof WaitTimeout) {
    process.stderr.write(`dcctl: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`dcctl: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT_REFUSED;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    // --help and --version "fail" with exit code 0; usage errors were already printed by commander.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    return report(err, wantsJson(argv.slice(2)));
  }
}

// Exit by setting the code, not process.exit: stdout to a pipe is flushed first.
main(process.argv).then((code) => {
  process.exitCode = code;
});
