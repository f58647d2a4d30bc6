import { Command, Option } from 'commander';
import { formatStatus, readStatus } from '../status.js';
import { configOption, example, jsonOption } from './options.js';

export interface StatusOptions {
  config: string;
  json?: boolean;
  offline?: boolean;
}

export function statusCommand(): Command {
  return new Command('status')
    .summary('Show pool, state, health, last heartbeat and contracts in flight')
    .description(
      "Show what the local agent is doing: pool, last heartbeat, contracts in flight (from the state file `run` keeps next to the config), and dc-api's record of it: active or draining (with the reason), drained, health (consecutive failures, cool-down) and live leases. Exit code 0 while it runs, 1 otherwise.",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(new Option('--offline', "show only the local state file (do not ask dc-api)").env('DC_AGENT_STATUS_OFFLINE'))
    .addHelpText('after', example('dc-agent status --json'))
    .action(async (opts: StatusOptions) => {
      const report = await readStatus(opts.config, { offline: opts.offline });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
      process.exitCode = report.running ? 0 : 1;
    });
}
