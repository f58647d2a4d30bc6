// dcctl provider register|show: the provider's registration (its name) for the key file's key.
import { Command } from 'commander';
import type { Provider } from '@dc/core';
import { action, examples, type Ctx } from '../context.js';
import { fields } from '../output.js';

function show(ctx: Ctx, p: Provider): void {
  ctx.render({
    json: p,
    text: () => fields([['pubkey', p.pubkey], ['name', p.name], ['created_at', p.created_at], ['updated_at', p.updated_at]]),
    ids: () => [p.pubkey],
  });
}

export function providerCommand(): Command {
  const provider = new Command('provider').summary("Register the key file's key as a provider").description(
    'A provider is identified by its key; registering gives it a name. Everything under pools, tokens, agents, offerings and contracts needs a registered provider key.',
  );
  provider
    .command('register')
    .summary('Register the provider, or rename it')
    .requiredOption('--name <name>', "the provider's name shown to customers")
    .addHelpText('after', examples('dcctl provider register --name "Acme Hosting" --key-file ~/dc-keys/provider.json'))
    .action(
      action<{ name: string }>(async (ctx, opts) => {
        const answer = await ctx.api().call('putProvider', { params: { pubkey: ctx.pubkey() }, body: { name: opts.name } });
        show(ctx, answer);
      }),
    );
  provider
    .command('show')
    .summary("The provider's registration")
    .addHelpText('after', examples('dcctl provider show'))
    .action(
      action(async (ctx) => {
        const answer = await ctx.api().call('getProvider', { params: { pubkey: ctx.pubkey() } });
        show(ctx, answer);
      }),
    );
  return provider;
}
