import { ENDPOINTS, sshPubkeyProblem } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { fail, invalidInput } from '../errors.js';
import { cancelContract, createContract, decideContract, getContract, listEvents, listProviderContracts, retryContract, setPayment, terminateContract } from '../store/contracts.js';
import type { WorkNoticePolicy } from '../store/work-notify.js';
import { route } from './common.js';

export function contractRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const operators = new Set(ctx.config.operatorPubkeys);
  /** Work notices name the fallback pools open now, which reads the agents' offline cutoff. */
  const notice: WorkNoticePolicy = { offlineAfterSeconds: ctx.config.agentOfflineAfterSeconds };
  return async (app) => {
    route(app, ENDPOINTS.createContract, async (req) => {
      const body = req.body;
      if (body.ssh_pubkey !== undefined) {
        const problem = sshPubkeyProblem(body.ssh_pubkey);
        if (problem) throw invalidInput(`body.ssh_pubkey ${problem}.`);
      }
      return createContract(ctx.db, req.signer!.pubkey, body);
    });

    route(app, ENDPOINTS.getContract, async (req) => getContract(ctx.db, req.params.id, { customerOrProvider: req.signer!.pubkey }));

    route(app, ENDPOINTS.cancelContract, async (req) => cancelContract(ctx.db, req.params.id, req.signer!.pubkey, notice));

    route(app, ENDPOINTS.recordPayment, async (req) => {
      if (!operators.has(req.signer!.pubkey)) throw fail('forbidden', 'Only operator keys (DC_OPERATOR_PUBKEYS) may record payments.');
      return setPayment(ctx.db, req.params.id, req.body.status, req.signer!.pubkey, notice);
    });

    route(app, ENDPOINTS.listContracts, async (req) => listProviderContracts(ctx.db, req.params.pubkey, req.query));

    route(app, ENDPOINTS.acceptContract, async (req) => decideContract(ctx.db, req.params.id, req.params.pubkey, 'accept', notice));
    route(app, ENDPOINTS.rejectContract, async (req) => decideContract(ctx.db, req.params.id, req.params.pubkey, 'reject', notice));
    route(app, ENDPOINTS.retryContract, async (req) => retryContract(ctx.db, req.params.id, req.params.pubkey, notice));
    route(app, ENDPOINTS.terminateContract, async (req) => terminateContract(ctx.db, req.params.id, req.params.pubkey, req.body?.reason ?? null, notice));

    route(app, ENDPOINTS.contractEvents, async (req) => ({ items: await listEvents(ctx.db, req.params.id, req.params.pubkey) }));
  };
}
