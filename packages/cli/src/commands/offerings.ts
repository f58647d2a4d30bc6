// dcctl offerings ls|show|create|import|export|rm.
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ENDPOINTS, LIST_LIMIT_MAX, MONTHLY_PRICE_MAX, OFFERING_STATUSES, PROVISIONER_TYPES, pathOf,
  type CsvImportResult, type Offering, type OfferingCreate, type OfferingListQuery,
} from '@dc/core';
import { action, examples, numberArg, type Ctx } from '../context.js';
import { UsageError } from '../errors.js';
import { fields, price, table, compactJson } from '../output.js';
import { poolIdOf } from '../resolve.js';

const route = (o: Offering) => (o.pool_match === 'explicit' ? o.resolved_pool_id : o.pool_match === 'location' ? `${o.resolved_pool_id} (auto: ${o.datacenter_region})` : `none (no ${o.provisioner_type} pool in ${o.datacenter_region})`);

function offeringFields(o: Offering): string {
  return fields([
    ['offering_id', o.offering_id],
    ['name', o.name],
    ['product_type', o.product_type],
    ['country', o.datacenter_country],
    ['region', o.datacenter_region],
    ['monthly_price', price(o.monthly_price, o.currency)],
    ['provisioner_type', o.provisioner_type],
    ['provisioner_config', compactJson(o.provisioner_config)],
    ['agent_pool_id', o.agent_pool_id ?? 'auto (by location)'],
    ['routes to', route(o)],
    ['status', o.status],
    ['created_at', o.created_at],
    ['updated_at', o.updated_at],
  ]);
}

function showOffering(ctx: Ctx, o: Offering, note?: string | null): void {
  ctx.render({ json: o, text: () => offeringFields(o), ids: () => [o.offering_id], note: note ?? null });
}

/** A JSON object given inline or as @file. */
function jsonObject(flag: string) {
  return (value: string): Record<string, unknown> => {
    let text = value;
    if (value.startsWith('@')) {
      try {
        text = readFileSync(value.slice(1), 'utf8');
      } catch (err) {
        throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(err as Error).message}`);
      }
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new InvalidArgumentError(`${flag} must be a JSON object (or @file holding one)`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`${flag} must be a JSON object (or @file holding one)`);
    return v as Record<string, unknown>;
  };
}

export function offeringsCommand(): Command {
  const offerings = new Command('offerings').summary('Offerings: list, show, create, import, export, delete').description(
    'Offerings are what customers buy. Each routes to a pool: the one it names (--pool), else the oldest pool of its region and provisioner type.',
  );

  offerings
    .command('ls')
    .summary('List offerings (inactive ones included)')
    .option('--pool <pool>', 'only offerings that route to this pool (id or name)')
    .option('--product-type <type>', 'only this product type')
    .addOption(new Option('--status <status>', 'only active or inactive ones').choices(OFFERING_STATUSES))
    .option('--search <text>', 'id or name contains this (case-insensitive)')
    .addHelpText('after', examples('dcctl offerings ls', 'dcctl offerings ls --pool europe-proxmox --status active'))
    .action(
      action<{ pool?: string; productType?: string; status?: Offering['status']; search?: string }>(async (ctx, o) => {
        const filter: OfferingListQuery = {
          ...(o.pool ? { pool_id: await poolIdOf(ctx, o.pool) } : {}),
          ...(o.productType ? { product_type: o.productType } : {}),
          ...(o.status ? { status: o.status } : {}),
          ...(o.search ? { q: o.search } : {}),
        };
        const items: Offering[] = [];
        for (;;) {
          const r = await ctx.api().call('listOfferings', { params: { pubkey: ctx.pubkey() }, query: { ...filter, limit: LIST_LIMIT_MAX, offset: items.length } });
          items.push(...r.items);
          if (r.items.length === 0 || items.length >= r.total) break;
        }
        ctx.render({
          json: { items, total: items.length },
          ids: () => items.map((x) => x.offering_id),
          text: () =>
            table(
              ['offering_id', 'name', 'product_type', 'country', 'price', 'provisioner', 'routes to', 'status'],
              items.map((x) => [x.offering_id, x.name, x.product_type, x.datacenter_country, price(x.monthly_price, x.currency), x.provisioner_type, route(x), x.status]),
            ),
          note: items.length ? null : 'no offerings; create one with "dcctl offerings create" or import a CSV with "dcctl offerings import FILE"',
        });
      }),
    );

  offerings
    .command('show')
    .summary('One offering and where it routes')
    .argument('<offering_id>')
    .addHelpText('after', examples('dcctl offerings show vps-small'))
    .action(
      action(async (ctx, _o, [id]) => {
        const answer = await ctx.api().call('getOffering', { params: { pubkey: ctx.pubkey(), offering_id: id! } });
        showOffering(ctx, answer);
      }),
    );

  offerings
    .command('create')
    .summary('Create an offering')
    .requiredOption('--id <offering_id>', 'unique per provider: 1–64 lowercase letters, digits, dots, dashes or underscores')
    .option('--name <name>', 'what customers see (default: the id)')
    .option('--product-type <type>', 'free text such as compute or dedicated', 'compute')
    .requiredOption('--country <code>', 'ISO 3166-1 alpha-2 code of the datacenter, such as DE; it decides the region')
    .requiredOption('--price <amount>', 'monthly price, at most two decimals', numberArg('--price', { min: 0, max: MONTHLY_PRICE_MAX }))
    .requiredOption('--currency <code>', 'three-letter currency code such as EUR')
    .addOption(new Option('--provisioner <type>', "default: the pool's type, else the type of your oldest pool in the region, else proxmox").choices(PROVISIONER_TYPES))
    .option('--pool <pool>', 'route to this pool (id or name) instead of by location')
    .option('--config <json>', 'provisioner_config: a JSON object, or @file', jsonObject('--config'))
    .option('--inactive', 'create it inactive (not orderable)')
    .addHelpText('after', examples('dcctl offerings create --id vps-small --name "VPS small" --country DE --price 4.99 --currency EUR', 'dcctl offerings create --id gpu-1 --country US --price 899 --currency USD --pool na-gpu --config \'{"template": 9001}\''))
    .action(
      action<{ id: string; name?: string; productType: string; country: string; price: number; currency: string; provisioner?: OfferingCreate['provisioner_type']; pool?: string; config?: Record<string, unknown>; inactive?: boolean }>(
        async (ctx, o) => {
          const body: OfferingCreate = {
            offering_id: o.id,
            name: o.name ?? o.id,
            product_type: o.productType,
            datacenter_country: o.country,
            monthly_price: o.price,
            currency: o.currency,
            ...(o.provisioner ? { provisioner_type: o.provisioner } : {}),
            ...(o.pool ? { agent_pool_id: await poolIdOf(ctx, o.pool) } : {}),
            ...(o.config ? { provisioner_config: o.config } : {}),
            ...(o.inactive ? { status: 'inactive' as const } : {}),
          };
          const created = await ctx.api().call('createOffering', { params: { pubkey: ctx.pubkey() }, body });
          showOffering(ctx, created, created.pool_match === 'none' ? `warning: no pool takes this offering yet; create a ${created.provisioner_type} pool in ${created.datacenter_region} (dcctl pools create) or pass --pool` : null);
        },
      ),
    );

  offerings
    .command('import')
    .summary('Create or update offerings from a CSV file (all or nothing)')
    .argument('<file>', "the CSV file ('-' for stdin); the header names the columns, as 'offerings export' writes them")
    .addHelpText('after', examples('dcctl offerings import offerings.csv', 'dcctl offerings export | sed s/EUR/USD/ | dcctl offerings import -'))
    .action(
      action(async (ctx, _o, [file]) => {
        let csv: string;
        try {
          csv = readFileSync(file === '-' ? 0 : file!, 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
        }
        const path = pathOf(ENDPOINTS.importOfferings, { pubkey: ctx.pubkey() });
        const answer = await ctx.api().send('POST', path, csv, 'text/csv');
        const r = JSON.parse(answer.text) as CsvImportResult;
        ctx.render({ json: r, text: () => fields([['imported', r.imported], ['created', r.created], ['updated', r.updated]]) });
      }),
    );

  offerings
    .command('export')
    .summary('Write every offering as CSV')
    .option('--out <file>', 'write to this file instead of stdout')
    .addHelpText('after', examples('dcctl offerings export --out offerings.csv'))
    .action(
      action<{ out?: string }>(async (ctx, o) => {
        const answer = await ctx.api().send('GET', pathOf(ENDPOINTS.exportOfferings, { pubkey: ctx.pubkey() }));
        if (o.out) {
          writeFileSync(o.out, answer.text);
          ctx.err(`wrote ${o.out}\n`);
        } else ctx.out(answer.text);
      }),
    );

  offerings
    .command('rm')
    .summary('Delete an offering (refused while it has unfinished contracts)')
    .argument('<offering_id>')
    .addHelpText('after', examples('dcctl offerings rm vps-small'))
    .action(
      action(async (ctx, _o, [id]) => {
        await ctx.api().call('deleteOffering', { params: { pubkey: ctx.pubkey(), offering_id: id! } });
        ctx.render({ json: { deleted: id }, text: () => `deleted offering ${id}\n`, ids: () => [id!] });
      }),
    );
  return offerings;
}
