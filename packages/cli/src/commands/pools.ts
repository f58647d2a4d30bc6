// dcctl pools ls|create|show|update|rm.
import { Command, Option } from 'commander';
import { FALLBACK_AFTER_MAX_SECONDS, PROVISIONER_TYPES, REGION_IDS, type Pool, type PoolCreate, type PoolUpdate } from '@dc/core';
import { action, examples, numberArg, type Ctx } from '../context.js';
import { UsageError } from '../errors.js';
import { fields, table } from '../output.js';
import { poolIdOf } from '../resolve.js';
import { AGENT_HEADERS, agentRow } from '../views.js';

interface FleetOptions {
  paused?: boolean;
  fallback?: string;
  fallbackAfter?: number | 'none';
  fallbackCrossRegion?: boolean;
}

/** Fleet options shared by create and update (DESIGN.md "Fleet operations"). */
function fleetOptions(cmd: Command): Command {
  return cmd
    .option('--paused', 'no new provisioning starts in the pool (teardowns continue)')
    .option('--no-paused', 'provisioning starts again')
    .option('--fallback <pool>', "where work goes when this pool cannot take it: a pool id or name, or 'none'")
    .addOption(
      new Option('--fallback-after <seconds>', `send waiting work to the fallback after this long (0–${FALLBACK_AFTER_MAX_SECONDS}), or 'none': only when no agent of this pool can take it`).argParser(
        (v) => (v === 'none' ? 'none' : numberArg('--fallback-after', { min: 0, max: FALLBACK_AFTER_MAX_SECONDS, integer: true })(v)),
      ),
    )
    .option('--fallback-cross-region', 'allow a fallback pool in another region')
    .option('--no-fallback-cross-region', 'the fallback pool must be in the same region');
}

async function fleetFields(ctx: Ctx, o: FleetOptions): Promise<Partial<PoolUpdate>> {
  const out: Partial<PoolUpdate> = {};
  if (o.paused !== undefined) out.paused = o.paused;
  if (o.fallback !== undefined) out.fallback_pool_id = o.fallback === 'none' ? null : await poolIdOf(ctx, o.fallback);
  if (o.fallbackAfter !== undefined) out.fallback_after_seconds = o.fallbackAfter === 'none' ? null : o.fallbackAfter;
  if (o.fallbackCrossRegion !== undefined) out.fallback_cross_region = o.fallbackCrossRegion;
  return out;
}

const rate = (r: number | null) => (r === null ? null : `${Math.round(r * 100)}%`);

function poolRow(p: Pool) {
  return [p.pool_id, p.name, p.location, p.provisioner_type, p.agents_count, `${p.online_count}/${p.agents_count}`, p.active_contracts, p.offerings_count, p.waiting, rate(p.success_rate_24h), p.paused ? 'paused' : ''];
}
const POOL_HEADERS = ['pool_id', 'name', 'location', 'type', 'agents', 'online', 'active contracts', 'offerings', 'waiting', 'success 24h', 'paused'];

function poolFields(p: Pool): string {
  return fields([
    ['pool_id', p.pool_id],
    ['name', p.name],
    ['location', p.location],
    ['provisioner_type', p.provisioner_type],
    ['created_at', p.created_at],
    ['agents', p.agents_count],
    ['online', `${p.online_count}/${p.agents_count}`],
    ['active contracts', p.active_contracts],
    ['offerings', p.offerings_count],
    ['waiting', p.waiting],
    ['success 24h', rate(p.success_rate_24h)],
    ['paused', p.paused],
    ['fallback_pool_id', p.fallback_pool_id],
    ['fallback_after_seconds', p.fallback_after_seconds],
    ['fallback_cross_region', p.fallback_cross_region],
  ]);
}

function showPool(ctx: Ctx, p: Pool): void {
  ctx.render({ json: p, text: () => poolFields(p), ids: () => [p.pool_id] });
}

export function poolsCommand(): Command {
  const pools = new Command('pools').summary('Agent pools: list, create, show, update, delete').description(
    'Pools group agents by region and provisioner type; offerings route to the oldest pool of their region and type unless they name one. POOL is a pool id or a pool name.',
  );

  pools
    .command('ls')
    .summary('List pools with agent, contract and offering counts')
    .addHelpText('after', examples('dcctl pools ls', 'dcctl pools ls --output json'))
    .action(
      action(async (ctx) => {
        const r = await ctx.api().call('listPools', { params: { pubkey: ctx.pubkey() } });
        ctx.render({
          json: r,
          text: () => table(POOL_HEADERS, r.items.map(poolRow)),
          ids: () => r.items.map((p) => p.pool_id),
          note: r.items.length ? null : 'no pools yet; create one: dcctl pools create --name europe-proxmox --location europe --type proxmox',
        });
      }),
    );

  fleetOptions(
    pools
      .command('create')
      .summary('Create a pool')
      .requiredOption('--name <name>', 'unique per provider: 1–64 letters, digits, dots, dashes or underscores')
      .addOption(new Option('--location <region>', 'the region its agents serve').choices(REGION_IDS).makeOptionMandatory())
      .addOption(new Option('--type <provisioner>', 'how its agents provision').choices(PROVISIONER_TYPES).makeOptionMandatory()),
  )
    .addHelpText('after', examples('dcctl pools create --name europe-proxmox --location europe --type proxmox', 'dcctl pools create --name eu-overflow --location europe --type proxmox --paused'))
    .action(
      action<{ name: string; location: PoolCreate['location']; type: PoolCreate['provisioner_type'] } & FleetOptions>(async (ctx, o) => {
        const body: PoolCreate = { name: o.name, location: o.location, provisioner_type: o.type, ...(await fleetFields(ctx, o)) };
        const answer = await ctx.api().call('createPool', { params: { pubkey: ctx.pubkey() }, body });
        showPool(ctx, answer);
      }),
    );

  pools
    .command('show')
    .summary('A pool with its agents')
    .argument('<pool>', 'pool id or name')
    .addHelpText('after', examples('dcctl pools show europe-proxmox'))
    .action(
      action(async (ctx, _o, [ref]) => {
        const poolId = await poolIdOf(ctx, ref!);
        const p = await ctx.api().call('getPool', { params: { pubkey: ctx.pubkey(), pool_id: poolId } });
        ctx.render({
          json: p,
          ids: () => [p.pool_id],
          text: () => {
            let s = poolFields(p) + fields([['teardowns waiting', p.teardowns_waiting], ['orphans', p.orphans.length], ['ghosts', p.ghosts.length]]);
            s += '\n' + (p.agents.length ? table(AGENT_HEADERS, p.agents.map(agentRow)) : 'No agents yet: "dcctl tokens create --pool POOL" prints the one-liner that adds one.\n');
            return s;
          },
        });
      }),
    );

  fleetOptions(
    pools
      .command('update')
      .summary('Change a pool (only the options given)')
      .argument('<pool>', 'pool id or name')
      .option('--name <name>', 'a new name')
      .addOption(new Option('--location <region>', 'a new region').choices(REGION_IDS))
      .addOption(new Option('--type <provisioner>', 'a new provisioner type').choices(PROVISIONER_TYPES)),
  )
    .addHelpText('after', examples('dcctl pools update europe-proxmox --paused', 'dcctl pools update europe-proxmox --fallback eu-overflow --fallback-after 300'))
    .action(
      action<{ name?: string; location?: PoolCreate['location']; type?: PoolCreate['provisioner_type'] } & FleetOptions>(async (ctx, o, [ref]) => {
        const body: PoolUpdate = {
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.location !== undefined ? { location: o.location } : {}),
          ...(o.type !== undefined ? { provisioner_type: o.type } : {}),
          ...(await fleetFields(ctx, o)),
        };
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass at least one of --name, --location, --type, --paused/--no-paused, --fallback, --fallback-after, --[no-]fallback-cross-region');
        const poolId = await poolIdOf(ctx, ref!);
        const answer = await ctx.api().call('updatePool', { params: { pubkey: ctx.pubkey(), pool_id: poolId }, body });
        showPool(ctx, answer);
      }),
    );

  pools
    .command('rm')
    .summary('Delete a pool (refused while agents or offerings use it)')
    .argument('<pool>', 'pool id or name')
    .addHelpText('after', examples('dcctl pools rm europe-proxmox'))
    .action(
      action(async (ctx, _o, [ref]) => {
        const poolId = await poolIdOf(ctx, ref!);
        await ctx.api().call('deletePool', { params: { pubkey: ctx.pubkey(), pool_id: poolId } });
        ctx.render({ json: { deleted: poolId }, text: () => `deleted pool ${poolId}\n`, ids: () => [poolId] });
      }),
    );
  return pools;
}
