import { Command } from 'commander';
import { formatStatus, readStatus } from '../status.js';
import { configOption, example, jsonOption } from './options.js';

export interface StatusOptions {
  config: string;
  json?: boolean;
}

export function statusCommand(): Command {
  return new Command('status')
    .summary('Show pool, last heartbeat and contracts in flight')
    .description(
      'Show what the local agent is doing: pool, last heartbeat, contracts in flight (from the state file `run` keeps next to the config). Exit code 0 while it runs, 1 otherwise.',
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addHelpText('after', example('dc-agent status --json'))
    .action((opts: StatusOptions) => {
      const report = readStatus(opts.config);
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
      process.exitCode = report.running ? 0 : 1;
    });
}
