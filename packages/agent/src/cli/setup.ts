import { Command, Option } from 'commander';
import { SERVICE_USER } from '../ownership.js';
import { runSetup, setupReport, type SetupInput } from '../setup.js';
import { configOption, example } from './options.js';

/** The command's options are exactly what setup takes. */
export type SetupOptions = SetupInput;

export function setupCommand(): Command {
  return new Command('setup')
    .summary('Register this host as an agent of a pool with a one-time setup token')
    .description(
      "Register this host as an agent of a pool, with a one-time setup token from the dashboard. Generates the agent key here (the private key never leaves the host), verifies the API's delegation against the server key, and writes the configuration (mode 0600). Run as root, it gives the key and config to the service user (dc-agent) when that user exists.",
    )
    .addOption(new Option('--token <token>', 'the one-time setup token (apt_…)').env('DC_SETUP_TOKEN'))
    .addOption(new Option('--token-file <path>', 'read the token from this file (keeps it out of ps and shell history)').env('DC_SETUP_TOKEN_FILE'))
    .addOption(new Option('--api-url <url>', 'the dc-api base URL (https; http only for loopback)').env('DC_API_URL'))
    .addOption(new Option('--server-key <hex>', "the API's server key to pin (the dashboard's command includes it); without it the published key is trusted").env('DC_SERVER_KEY'))
    .addOption(configOption())
    .addOption(new Option('--key-file <path>', 'where to write the private key (default: agent.key next to the config)').env('DC_AGENT_KEY_FILE'))
    .addOption(new Option('--label <label>', "this agent's label in the dashboard (default: the token's label)").env('DC_AGENT_LABEL'))
    .addOption(new Option('--force', 'register again with a new key; keeps the [provisioner.*] settings and [agent] tunables of the existing configuration').env('DC_SETUP_FORCE'))
    .addOption(new Option('--service-user <user>', 'when run as root, give the key and config to this user (the one the systemd unit runs as)').env('DC_AGENT_SERVICE_USER').default(SERVICE_USER))
    .addOption(new Option('--non-interactive', 'never prompt (fail instead when something is missing)').env('DC_NON_INTERACTIVE'))
    .addHelpText(
      'after',
      example(
        'DC_SETUP_TOKEN=apt_europe_… dc-agent setup --api-url https://api.example.net \\',
        '    --server-key 3b6a27bc… --label pve-node-1',
      ),
    )
    .action(async (opts: SetupOptions) => {
      const outcome = await runSetup(opts);
      process.stdout.write(setupReport(outcome));
    });
}
