// dcctl contracts ls|show|events|wait|accept|reject|terminate|retry: the provider's side of
// contracts (show and wait also work with the customer's key).
import { Command, Option } from 'commander';
import { CONTRACT_STATUSES, LIST_LIMIT_MAX, TERMINAL_STATUSES, type Contract, type ContractStatus, type ContractListQuery } from '@dc/core';
import { action, examples, numberArg, type Ctx } from '../context.js';
import { ApiError, WaitTimeout } from '../errors.js';
import { table } from '../output.js';
import { CONTRACT_HEADERS, contractFields, contractRow } from '../views.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function showContract(ctx: Ctx, c: Contract, note?: string | null): void {
  ctx.render({ json: c, text: () => contractFields(c), ids: () => [c.contract_id], note: note ?? null });
}

/** Statuses a contract does not leave without someone acting: waiting for another one is pointless. */
const STUCK: readonly ContractStatus[] = [...TERMINAL_STATUSES, 'provisioning_failed', 'termination_failed'];

export function contractsCommand(): Command {
  const contracts = new Command('contracts').summary("The provider's contracts: list, show, events, accept, reject, terminate, retry").description(
    'Contracts of the key file\'s provider. A contract is provisioned once the provider accepted it and the operator recorded its payment ("dcctl payment"). "show" and "wait" also work with the customer\'s key.',
  );

  contracts
    .command('ls')
    .summary('List contracts, newest first')
    .addOption(new Option('--status <status>', 'only contracts in this status').choices(CONTRACT_STATUSES))
    .option('--limit <n>', `at most this many (1–${LIST_LIMIT_MAX})`, numberArg('--limit', { min: 1, max: LIST_LIMIT_MAX, integer: true }), 100)
    .option('--offset <n>', 'skip this many', numberArg('--offset', { min: 0, integer: true }), 0)
    .addHelpText('after', examples('dcctl contracts ls', 'dcctl contracts ls --status provisioning_failed -q'))
    .action(
      action<{ status?: ContractStatus; limit: number; offset: number }>(async (ctx, o) => {
        const query: ContractListQuery = { limit: o.limit, offset: o.offset, ...(o.status ? { status: o.status } : {}) };
        const r = await ctx.api().call('listContracts', { params: { pubkey: ctx.pubkey() }, query });
        const shown = r.items.length;
        ctx.render({
          json: r,
          ids: () => r.items.map((c) => c.contract_id),
          text: () => table(CONTRACT_HEADERS, r.items.map(contractRow)),
          note: shown === 0 ? 'no contracts' : shown < r.total ? `${o.offset + 1}–${o.offset + shown} of ${r.total_estimated ? 'about ' : ''}${r.total}; the next page: --offset ${o.offset + shown}` : null,
        });
      }),
    );

  contracts
    .command('show')
    .summary('One contract (provider or customer key)')
    .argument('<contract_id>')
    .addHelpText('after', examples('dcctl contracts show 0f8e…'))
    .action(
      action(async (ctx, _o, [id]) => {
        const answer = await ctx.api().call('getContract', { params: { id: id! } });
        showContract(ctx, answer);
      }),
    );

  contracts
    .command('wait')
    .summary('Wait until a contract reaches a status (provider or customer key)')
    .argument('<contract_id>')
    .addOption(new Option('--for <status>', 'the status to wait for').choices(CONTRACT_STATUSES).default('provisioned'))
    .option('--timeout <seconds>', 'give up after this long (exit 3)', numberArg('--timeout', { min: 1 }), 300)
    .addHelpText('after', examples('dcctl contracts wait $CONTRACT --for provisioned --timeout 120'))
    .action(
      action<{ for: ContractStatus; timeout: number }>(async (ctx, o, [id]) => {
        const deadline = Date.now() + o.timeout * 1000;
        for (;;) {
          const c = await ctx.api().call('getContract', { params: { id: id! } });
          if (c.status === o.for) return showContract(ctx, c);
          if (STUCK.includes(c.status)) {
            throw new ApiError(409, 'invalid_transition', `The contract is ${c.status}${c.last_error ? ` (last error: ${c.last_error})` : ''}; it will not become ${o.for} by itself.`, {
              hint: '"dcctl contracts events ID" shows what happened; "dcctl contracts retry ID" tries a failed one again',
            });
          }
          if (Date.now() > deadline) throw new WaitTimeout(`contract ${id} is still ${c.status} (payment ${c.payment_status}) after ${o.timeout} s`);
          await sleep(500);
        }
      }),
    );

  contracts
    .command('events')
    .summary("A contract's lease history, oldest first")
    .argument('<contract_id>')
    .addHelpText('after', examples('dcctl contracts events 0f8e…'))
    .action(
      action(async (ctx, _o, [id]) => {
        const r = await ctx.api().call('contractEvents', { params: { pubkey: ctx.pubkey(), id: id! } });
        ctx.render({
          json: r,
          ids: () => r.items.map((e) => String(e.event_id)),
          text: () =>
            table(
              ['at', 'event', 'action', 'lock_token', 'agent', 'detail'],
              r.items.map((e) => [e.at, e.event + (e.via_fallback ? ' (fallback)' : ''), e.action, e.lock_token, e.agent_pubkey, e.detail]),
            ),
        });
      }),
    );

  const simple = [
    ['accept', 'acceptContract', 'Accept a requested contract', 'dcctl contracts accept 0f8e…'],
    ['reject', 'rejectContract', 'Reject a requested contract', 'dcctl contracts reject 0f8e…'],
    ['retry', 'retryContract', 'Try a provisioning_failed (or termination_failed) contract again, attempts reset', 'dcctl contracts retry 0f8e…'],
  ] as const;
  for (const [name, endpoint, summary, example] of simple) {
    contracts
      .command(name)
      .summary(summary)
      .argument('<contract_id>')
      .addHelpText('after', examples(example))
      .action(
        action(async (ctx, _o, [id]) => {
          const answer = await ctx.api().call(endpoint, { params: { pubkey: ctx.pubkey(), id: id! } });
          showContract(ctx, answer);
        }),
      );
  }

  contracts
    .command('terminate')
    .summary('End a contract: the agent that built its machine tears it down')
    .argument('<contract_id>')
    .option('--reason <text>', 'why (recorded in the events and the audit log)')
    .addHelpText('after', examples('dcctl contracts terminate 0f8e… --reason "abuse report"'))
    .action(
      action<{ reason?: string }>(async (ctx, o, [id]) => {
        const c = await ctx.api().call('terminateContract', { params: { pubkey: ctx.pubkey(), id: id! }, body: o.reason !== undefined ? { reason: o.reason } : {} });
        showContract(ctx, c);
      }),
    );
  return contracts;
}
