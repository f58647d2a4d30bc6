// dcctl agents ls|show|drain|resume|revoke. AGENT is a key, a key prefix (8+ hex) or a label.
import { Command, Option } from 'commander';
import { AGENT_STATUSES, STATE_REASON_MAX, type AgentUpdate, type PoolAgent } from '@dc/core';
import { action, examples, numberArg, type Ctx } from '../context.js';
import { WaitTimeout } from '../errors.js';
import { table } from '../output.js';
import { agentKeyOf, agentsOfPool, allAgents, poolIdOf } from '../resolve.js';
import { AGENT_HEADERS, agentFields, agentRow } from '../views.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function showAgent(ctx: Ctx, a: PoolAgent, note?: string): void {
  ctx.render({ json: a, text: () => agentFields(a), ids: () => [a.agent_pubkey], note: note ?? null });
}

async function setState(ctx: Ctx, ref: string, pool: string | undefined, body: AgentUpdate): Promise<PoolAgent> {
  const key = await agentKeyOf(ctx, ref, pool);
  const agent = await ctx.api().call('updateAgent', { params: { pubkey: ctx.pubkey(), agent_pubkey: key }, body });
  return agent;
}

export function agentsCommand(): Command {
  const agents = new Command('agents').summary('Agents: list, show, drain, resume, revoke').description(
    'Agents are the dc-agent processes on your hypervisors. AGENT is the agent\'s key, a prefix of it (8 or more hex characters) or its label; --pool narrows the search.',
  );
  const poolOption = () => new Option('--pool <pool>', 'pool id or name');

  agents
    .command('ls')
    .summary("List a pool's agents (all pools without --pool)")
    .addOption(poolOption())
    .addOption(new Option('--status <status>', 'only agents with this status').choices(AGENT_STATUSES))
    .addHelpText('after', examples('dcctl agents ls --pool europe-proxmox', 'dcctl agents ls --status online --output json'))
    .action(
      action<{ pool?: string; status?: PoolAgent['status'] }>(async (ctx, o) => {
        const items = o.pool ? await agentsOfPool(ctx, await poolIdOf(ctx, o.pool), o.status) : await allAgents(ctx, o.status);
        ctx.render({
          json: { items },
          ids: () => items.map((a) => a.agent_pubkey),
          text: () => table(AGENT_HEADERS, items.map(agentRow)),
          note: items.length ? null : 'no agents; "dcctl tokens create --pool POOL" prints the one-liner that adds one',
        });
      }),
    );

  agents
    .command('show')
    .summary('One agent: state, health, capacity')
    .argument('<agent>', 'key, key prefix or label')
    .addOption(poolOption())
    .addHelpText('after', examples('dcctl agents show pve-node-1'))
    .action(
      action<{ pool?: string }>(async (ctx, o, [ref]) => {
        const key = await agentKeyOf(ctx, ref!, o.pool);
        const answer = await ctx.api().call('getAgent', { params: { pubkey: ctx.pubkey(), agent_pubkey: key } });
        showAgent(ctx, answer);
      }),
    );

  agents
    .command('drain')
    .summary('Stop giving an agent new provisioning work (leases it holds finish)')
    .argument('<agent>', 'key, key prefix or label')
    .addOption(poolOption())
    .option('--reason <text>', `why, shown in the dashboard (at most ${STATE_REASON_MAX} characters)`)
    .option('--wait', 'wait until the agent holds no lease any more (drained)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 3)', numberArg('--timeout', { min: 1 }), 600)
    .addHelpText('after', examples('dcctl agents drain pve-node-1 --reason "kernel upgrade" --wait --timeout 900'))
    .action(
      action<{ pool?: string; reason?: string; wait?: boolean; timeout: number }>(async (ctx, o, [ref]) => {
        let a = await setState(ctx, ref!, o.pool, { state: 'draining', ...(o.reason !== undefined ? { reason: o.reason } : {}) });
        if (o.wait) {
          const deadline = Date.now() + o.timeout * 1000;
          while (!a.drained) {
            if (Date.now() > deadline) throw new WaitTimeout(`agent ${a.label ?? a.agent_pubkey} still holds ${a.live_leases} lease(s) after ${o.timeout} s; it stays draining`);
            await sleep(1000);
            const next = await ctx.api().call('getAgent', { params: { pubkey: ctx.pubkey(), agent_pubkey: a.agent_pubkey } });
            a = next;
          }
        }
        showAgent(ctx, a, a.drained ? 'drained: it holds no lease and takes no new provisioning work' : 'draining: it finishes what it holds and takes no new provisioning work');
      }),
    );

  agents
    .command('resume')
    .summary('Give a drained agent work again')
    .argument('<agent>', 'key, key prefix or label')
    .addOption(poolOption())
    .option('--reason <text>', 'why (kept with the state)')
    .addHelpText('after', examples('dcctl agents resume pve-node-1'))
    .action(
      action<{ pool?: string; reason?: string }>(async (ctx, o, [ref]) => {
        showAgent(ctx, await setState(ctx, ref!, o.pool, { state: 'active', ...(o.reason !== undefined ? { reason: o.reason } : {}) }));
      }),
    );

  agents
    .command('revoke')
    .summary('Revoke an agent: its next call is refused and it exits (code 78)')
    .argument('<agent>', 'key, key prefix or label')
    .addOption(poolOption())
    .addHelpText('after', examples('dcctl agents revoke pve-node-1'))
    .action(
      action<{ pool?: string }>(async (ctx, o, [ref]) => {
        const key = await agentKeyOf(ctx, ref!, o.pool);
        await ctx.api().call('revokeAgent', { params: { pubkey: ctx.pubkey(), agent_pubkey: key } });
        ctx.render({ json: { revoked: key }, text: () => `revoked agent ${key}\n`, ids: () => [key] });
      }),
    );
  return agents;
}
