// dcctl payment ID STATUS: the operator records a payment outcome (key in DC_OPERATOR_PUBKEYS).
import { Argument, Command } from 'commander';
import { PAYMENT_OUTCOMES, type PaymentOutcome } from '@dc/core';
import { action, examples } from '../context.js';
import { showContract } from './contracts.js';

export function paymentCommand(): Command {
  return new Command('payment')
    .summary("Record a contract's payment outcome (operator key)")
    .description(
      "Record a payment outcome for a contract. Only keys listed in the server's DC_OPERATOR_PUBKEYS may; \"dcctl key show\" prints a key file's public key. succeeded lets an accepted contract be provisioned; refunded ends it (its machine is torn down).",
    )
    .argument('<contract_id>')
    .addArgument(new Argument('<status>', 'the outcome').choices(PAYMENT_OUTCOMES))
    .addHelpText('after', examples('dcctl payment 0f8e… succeeded --key-file ~/dc-keys/operator.json'))
    .action(
      action(async (ctx, _o, [id, status]) => {
        const c = await ctx.api().call('recordPayment', { params: { id: id! }, body: { status: status as PaymentOutcome } });
        showContract(ctx, c);
      }),
    );
}
