// dcctl contract create|cancel: a customer's side (for trying the product and for tests).
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { ContractCreate, InstanceConfig } from '@dc/core';
import { action, examples, numberArg } from '../context.js';
import { showContract } from './contracts.js';

/** --ssh-key takes the key line itself or the path of a .pub file. */
function sshKeyOf(value: string): string {
  return existsSync(value) ? readFileSync(value, 'utf8').trim() : value.trim();
}

export function contractCommand(): Command {
  const contract = new Command('contract').summary("A customer's contract: create, cancel").description(
    'The customer side: the key file is the customer\'s key (any key; "dcctl key generate" makes one). "dcctl contracts show|wait" read it with the same key.',
  );

  contract
    .command('create')
    .summary('Request a contract for an offering')
    .requiredOption('--provider <pubkey>', "the provider's public key (64 hex)")
    .requiredOption('--offering <offering_id>', 'the offering to buy')
    .option('--ssh-key <key|file>', 'an OpenSSH public key line, or the path of a .pub file')
    .option('--hostname <name>', 'instance_config.hostname')
    .option('--os-image <image>', 'instance_config.os_image')
    .option('--cpu-cores <n>', 'instance_config.cpu_cores', numberArg('--cpu-cores', { min: 1, integer: true }))
    .option('--memory-mb <n>', 'instance_config.memory_mb', numberArg('--memory-mb', { min: 1, integer: true }))
    .option('--disk-gb <n>', 'instance_config.disk_gb', numberArg('--disk-gb', { min: 1, integer: true }))
    .addHelpText(
      'after',
      examples(
        'dcctl contract create --provider 3b6a27bc… --offering vps-small --ssh-key ~/.ssh/id_ed25519.pub --key-file ~/dc-keys/customer.json',
        'CONTRACT=$(dcctl contract create --provider $PROVIDER --offering vps-small -q --key-file ~/dc-keys/customer.json)',
      ),
    )
    .action(
      action<{ provider: string; offering: string; sshKey?: string; hostname?: string; osImage?: string; cpuCores?: number; memoryMb?: number; diskGb?: number }>(async (ctx, o) => {
        const config: InstanceConfig = {
          ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
          ...(o.osImage !== undefined ? { os_image: o.osImage } : {}),
          ...(o.cpuCores !== undefined ? { cpu_cores: o.cpuCores } : {}),
          ...(o.memoryMb !== undefined ? { memory_mb: o.memoryMb } : {}),
          ...(o.diskGb !== undefined ? { disk_gb: o.diskGb } : {}),
        };
        const body: ContractCreate = {
          provider_pubkey: o.provider,
          offering_id: o.offering,
          ...(o.sshKey !== undefined ? { ssh_pubkey: sshKeyOf(o.sshKey) } : {}),
          ...(Object.keys(config).length ? { instance_config: config } : {}),
        };
        const c = await ctx.api().call('createContract', { body });
        showContract(ctx, c, 'requested: the provider accepts it ("dcctl contracts accept") and the operator records the payment ("dcctl payment")');
      }),
    );

  contract
    .command('cancel')
    .summary('Cancel the contract (a machine already built is torn down)')
    .argument('<contract_id>')
    .addHelpText('after', examples('dcctl contract cancel 0f8e… --key-file ~/dc-keys/customer.json'))
    .action(
      action(async (ctx, _o, [id]) => {
        const answer = await ctx.api().call('cancelContract', { params: { id: id! } });
        showContract(ctx, answer);
      }),
    );
  return contract;
}
