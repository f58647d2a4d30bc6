// dcctl tokens create|ls|revoke: one-time setup tokens that add agents to a pool.
import { Command } from 'commander';
import { SETUP_TOKEN_DEFAULT_HOURS, SETUP_TOKEN_MAX_HOURS, agentSetupCommand, type SetupTokenCreate } from '@dc/core';
import { action, examples, numberArg } from '../context.js';
import { fields, table } from '../output.js';
import { poolIdOf } from '../resolve.js';

export function tokensCommand(): Command {
  const tokens = new Command('tokens').summary('One-time setup tokens that add agents to a pool').description(
    'A setup token lets one host join a pool: "tokens create" prints the one-liner to run on the hypervisor. The token is shown once; the server keeps only its hash.',
  );

  tokens
    .command('create')
    .summary('Create a setup token and print the one-liner')
    .requiredOption('--pool <pool>', 'pool id or name')
    .option('--label <label>', "the agent's label (1–64 letters, digits, spaces, dots, dashes or underscores)")
    .option(
      '--expires-in-hours <hours>',
      `how long the token may be used (above 0, at most ${SETUP_TOKEN_MAX_HOURS}; default ${SETUP_TOKEN_DEFAULT_HOURS})`,
      numberArg('--expires-in-hours', { min: Number.MIN_VALUE, max: SETUP_TOKEN_MAX_HOURS }),
    )
    .addHelpText('after', examples('dcctl tokens create --pool europe-proxmox --label pve-node-1', 'TOKEN=$(dcctl tokens create --pool europe-proxmox -q)'))
    .action(
      action<{ pool: string; label?: string; expiresInHours?: number }>(async (ctx, o) => {
        const poolId = await poolIdOf(ctx, o.pool);
        const body: SetupTokenCreate = { ...(o.label !== undefined ? { label: o.label } : {}), ...(o.expiresInHours !== undefined ? { expires_in_hours: o.expiresInHours } : {}) };
        const t = await ctx.api().call('createSetupToken', { params: { pubkey: ctx.pubkey(), pool_id: poolId }, body });
        ctx.render({
          json: t,
          ids: () => [t.token],
          text: () =>
            fields([
              ['token', t.token],
              ['token_id', t.token_id],
              ['pool_id', t.pool_id],
              ['label', t.label],
              ['expires_at', t.expires_at],
              ['one-liner', t.setup_command],
              ['dc-agent', agentSetupCommand({ api_url: t.api_url, token: t.token, server_key: t.server_key })],
            ]),
          note: 'The token is shown once. Run the one-liner as root on the hypervisor (or "dc-agent setup" where the agent is installed).',
        });
      }),
    );

  tokens
    .command('ls')
    .summary("A pool's pending tokens (unused, unexpired), never the secret")
    .requiredOption('--pool <pool>', 'pool id or name')
    .addHelpText('after', examples('dcctl tokens ls --pool europe-proxmox'))
    .action(
      action<{ pool: string }>(async (ctx, o) => {
        const poolId = await poolIdOf(ctx, o.pool);
        const r = await ctx.api().call('listSetupTokens', { params: { pubkey: ctx.pubkey(), pool_id: poolId } });
        ctx.render({
          json: r,
          ids: () => r.items.map((t) => t.token_id),
          text: () => table(['token_id', 'label', 'created_at', 'expires_at'], r.items.map((t) => [t.token_id, t.label, t.created_at, t.expires_at])),
          note: r.items.length ? null : 'no pending tokens',
        });
      }),
    );

  tokens
    .command('revoke')
    .summary('Revoke an unused token')
    .argument('<token_id>', 'the token_id "tokens ls" shows')
    .addHelpText('after', examples('dcctl tokens revoke 5f0c2a9e'))
    .action(
      action(async (ctx, _o, [tokenId]) => {
        await ctx.api().call('revokeSetupToken', { params: { pubkey: ctx.pubkey(), token_id: tokenId! } });
        ctx.render({ json: { revoked: tokenId }, text: () => `revoked token ${tokenId}\n`, ids: () => [tokenId!] });
      }),
    );
  return tokens;
}
