// dcctl audit: the provider's audit log, newest first, with the API's cursors.
import { Command, Option } from 'commander';
import { AUDIT_KINDS, AUDIT_LIMIT_MAX, type AuditKind, type AuditQuery } from '@dc/core';
import { action, examples, numberArg } from '../context.js';
import { compactJson, table } from '../output.js';

export function auditCommand(): Command {
  return new Command('audit')
    .summary("The provider's audit log, newest first")
    .description('Who changed what: pools, tokens, agents, offerings, contracts and payments. --before pages back; --after shows what is newer than an id (still newest first).')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(AUDIT_KINDS))
    .option('--limit <n>', `at most this many (1–${AUDIT_LIMIT_MAX})`, numberArg('--limit', { min: 1, max: AUDIT_LIMIT_MAX, integer: true }), 50)
    .option('--before <id>', 'rows older than this id', numberArg('--before', { min: 0, integer: true }))
    .option('--after <id>', 'rows newer than this id', numberArg('--after', { min: 0, integer: true }))
    .addHelpText('after', examples('dcctl audit', 'dcctl audit --kind agent_revoked --limit 10', 'dcctl audit --before 1200'))
    .action(
      action<{ kind?: AuditKind; limit: number; before?: number; after?: number }>(async (ctx, o) => {
        const query: AuditQuery = { limit: o.limit, ...(o.kind ? { kind: o.kind } : {}), ...(o.before !== undefined ? { before: o.before } : {}), ...(o.after !== undefined ? { after: o.after } : {}) };
        const r = await ctx.api().call('listAudit', { params: { pubkey: ctx.pubkey() }, query });
        ctx.render({
          json: r,
          ids: () => r.items.map((e) => String(e.id)),
          text: () =>
            table(
              ['id', 'at', 'kind', 'actor', 'subject', 'detail'],
              r.items.map((e) => [e.id, e.at, e.kind, e.actor_pubkey ? `${e.actor_kind} ${e.actor_pubkey.slice(0, 12)}` : e.actor_kind, `${e.subject.type} ${e.subject.id}`, compactJson(e.detail)]),
            ),
          note: r.items.length === 0 ? 'no audit events' : r.next_before !== null ? `older: dcctl audit --before ${r.next_before}` : null,
        });
      }),
    );
}
