import type { FastifyPluginAsync } from 'fastify';
import { Contract, ContractCreate, ContractEvent, ContractListQuery, PaymentInput, listOf, pageOf, sshPubkeyProblem, type ContractStatus } from '@dc/core';
import type { AppContext } from '../context.js';
import { badRequest, forbidden } from '../http/errors.js';
import { cancelContract, createContract, decideContract, getContract, listEvents, listProviderContracts, retryContract, setPayment } from '../store/contracts.js';
import { ContractParams, PROVIDER_ONLY, ProviderContractParams, ProviderParams, errors } from './common.js';

type PC = { pubkey: string; id: string };

export function contractRoutes(ctx: AppContext): FastifyPluginAsync {
  const operators = new Set(ctx.config.operatorPubkeys);
  return async (app) => {
    app.post('/contracts', {
      config: { auth: 'key' },
      schema: { tags: ['contracts'], summary: 'Request a contract (customer-signed)', body: ContractCreate, response: { 201: Contract, ...errors(400, 401, 403, 404) } },
    }, async (req, reply) => {
      const body = req.body as ContractCreate;
      if (body.ssh_pubkey !== undefined) {
        const problem = sshPubkeyProblem(body.ssh_pubkey);
        if (problem) throw badRequest(`body.ssh_pubkey ${problem}.`);
      }
      return reply.code(201).send(await createContract(ctx.db, req.signer!.pubkey, body));
    });

    app.get('/contracts/:id', {
      config: { auth: 'key' },
      schema: { tags: ['contracts'], summary: 'A contract (its customer or provider only)', params: ContractParams, response: { 200: Contract, ...errors(401, 404) } },
    }, async (req) => getContract(ctx.db, (req.params as { id: string }).id, { customerOrProvider: req.signer!.pubkey }));

    app.post('/contracts/:id/cancel', {
      config: { auth: 'key' },
      schema: { tags: ['contracts'], summary: 'Cancel a contract (customer)', params: ContractParams, response: { 200: Contract, ...errors(401, 404, 409) } },
    }, async (req) => cancelContract(ctx.db, (req.params as { id: string }).id, req.signer!.pubkey));

    app.post('/contracts/:id/payment', {
      config: { auth: 'key' },
      schema: { tags: ['contracts'], summary: 'Record a payment outcome (operator keys only)', params: ContractParams, body: PaymentInput, response: { 200: Contract, ...errors(400, 401, 403, 404, 409) } },
    }, async (req) => {
      if (!operators.has(req.signer!.pubkey)) throw forbidden('Only operator keys (DC_OPERATOR_PUBKEYS) may record payments.');
      const { status } = req.body as { status: 'succeeded' | 'failed' | 'refunded' };
      return setPayment(ctx.db, (req.params as { id: string }).id, status);
    });

    app.get('/providers/:pubkey/contracts', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['contracts'], summary: 'The provider\'s contracts, newest first', params: ProviderParams, querystring: ContractListQuery, response: { 200: pageOf(Contract), ...errors(400, 401, 403) } },
    }, async (req) => listProviderContracts(ctx.db, (req.params as { pubkey: string }).pubkey, req.query as { status?: ContractStatus; limit?: number; offset?: number }));

    for (const action of ['accept', 'reject'] as const) {
      app.post(`/providers/:pubkey/contracts/:id/${action}`, {
        config: { auth: PROVIDER_ONLY },
        schema: { tags: ['contracts'], summary: `${action === 'accept' ? 'Accept' : 'Reject'} a requested contract`, params: ProviderContractParams, response: { 200: Contract, ...errors(401, 403, 404, 409) } },
      }, async (req) => {
        const { pubkey, id } = req.params as PC;
        return decideContract(ctx.db, id, pubkey, action);
      });
    }

    app.post('/providers/:pubkey/contracts/:id/retry', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['contracts'], summary: 'Send a provisioning_failed contract back to accepted (attempts reset)', params: ProviderContractParams, response: { 200: Contract, ...errors(401, 403, 404, 409) } },
    }, async (req) => {
      const { pubkey, id } = req.params as PC;
      return retryContract(ctx.db, id, pubkey);
    });

    app.get('/providers/:pubkey/contracts/:id/events', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['contracts'], summary: 'Lock history of a contract, oldest first', params: ProviderContractParams, response: { 200: listOf(ContractEvent), ...errors(401, 403, 404) } },
    }, async (req) => {
      const { pubkey, id } = req.params as PC;
      return { items: await listEvents(ctx.db, id, pubkey) };
    });
  };
}
