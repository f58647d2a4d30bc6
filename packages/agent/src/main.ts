#!/usr/bin/env node
// dc-agent entry point (the bin, and the esbuild bundle's entry). Errors become one line on
// stderr and an exit code (see errors.ts); no stack traces for problems a person can fix.
import { CommanderError } from 'commander';
import { buildProgram } from './cli/registry.js';
import { CliError, ConfigError, EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE } from './errors.js';

async function main(): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(process.argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; usage errors were already printed.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`dc-agent: configuration error: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    if (err instanceof CliError) {
      process.stderr.write(`dc-agent: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`dc-agent: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_FAILURE;
  }
}

main().then((code) => process.exit(code));
