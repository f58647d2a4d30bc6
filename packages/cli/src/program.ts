// The command tree: one file per command group in ./commands.
import { Command } from 'commander';
import { globalOptions } from './context.js';
import { agentsCommand } from './commands/agents.js';
import { auditCommand } from './commands/audit.js';
import { contractCommand } from './commands/contract.js';
import { contractsCommand } from './commands/contracts.js';
import { keyCommand } from './commands/key.js';
import { offeringsCommand } from './commands/offerings.js';
import { paymentCommand } from './commands/payment.js';
import { poolsCommand } from './commands/pools.js';
import { providerCommand } from './commands/provider.js';
import { tokensCommand } from './commands/tokens.js';

export const DCCTL_VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('dcctl')
    .description(
      'The command-line client of dc-api for providers (pools, setup tokens, agents, offerings, contracts, audit), operators (payments) and test customers (contracts). Requests are signed with a key file: the dashboard\'s key backup, or one made by "dcctl key generate".\n\nExit codes: 0 ok, 1 refused by the API (its error code is printed), 2 usage, 3 retryable (429, 5xx, network; run it again).',
    )
    .version(DCCTL_VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)');
  for (const o of globalOptions()) program.addOption(o);
  const groups = [
    keyCommand(), providerCommand(), poolsCommand(), tokensCommand(), agentsCommand(), offeringsCommand(),
    contractsCommand(), contractCommand(), paymentCommand(), auditCommand(),
  ];
  for (const g of groups) program.addCommand(g);
  applyToAll(program, (c) => {
    c.exitOverride();
    c.showHelpAfterError('(add --help for usage)');
    c.configureHelp({ showGlobalOptions: true });
  });
  return program;
}

function applyToAll(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const c of cmd.commands) applyToAll(c, fn);
}
