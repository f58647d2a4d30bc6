import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CsvImportErrorBody, CsvImportResult, Offering, OfferingCreate, OfferingListQuery, OfferingUpdate, pageOf } from '@dc/core';
import type { AppContext } from '../context.js';
import { badRequest } from '../http/errors.js';
import { createOffering, deleteOffering, getOffering, listOfferings, updateOffering } from '../store/offerings.js';
import { exportOfferingsCsv, importOfferingsCsv } from '../store/offerings-csv.js';
import { OfferingParams, PROVIDER_ONLY, ProviderParams, errors } from './common.js';

type OP = { pubkey: string; offering_id: string };

export function offeringRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/providers/:pubkey/offerings', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'List offerings (filters: resolved pool_id, product_type, status, q)', params: ProviderParams, querystring: OfferingListQuery, response: { 200: pageOf(Offering), ...errors(400, 401, 403) } },
    }, async (req) => listOfferings(ctx.db, (req.params as { pubkey: string }).pubkey, req.query as OfferingListQuery));

    app.post('/providers/:pubkey/offerings', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'Create an offering', params: ProviderParams, body: OfferingCreate, response: { 201: Offering, ...errors(400, 401, 403, 404, 409) } },
    }, async (req, reply) => reply.code(201).send(await createOffering(ctx.db, (req.params as { pubkey: string }).pubkey, req.body as OfferingCreate)));

    app.get('/providers/:pubkey/offerings/export', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'Export all offerings as CSV', params: ProviderParams, produces: ['text/csv'] },
    }, async (req, reply) => {
      const csv = await exportOfferingsCsv(ctx.db, (req.params as { pubkey: string }).pubkey);
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="offerings.csv"').send(csv);
    });

    app.post('/providers/:pubkey/offerings/import', {
      config: { auth: PROVIDER_ONLY },
      bodyLimit: ctx.config.csvBodyLimitBytes,
      schema: { tags: ['offerings'], summary: 'Import offerings from CSV (upsert, all or nothing)', params: ProviderParams, consumes: ['text/csv'], response: { 200: CsvImportResult, ...errors(401, 403, 404, 413), 400: CsvImportErrorBody } },
    }, async (req) => {
      if (typeof req.body !== 'string') throw badRequest('Send the CSV as the body with Content-Type: text/csv.', 'invalid_csv');
      return importOfferingsCsv(ctx.db, (req.params as { pubkey: string }).pubkey, req.body);
    });

    app.get('/providers/:pubkey/offerings/:offering_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'One offering', params: OfferingParams, response: { 200: Offering, ...errors(401, 403, 404) } },
    }, async (req) => {
      const { pubkey, offering_id } = req.params as OP;
      return getOffering(ctx.db, pubkey, offering_id);
    });

    app.put('/providers/:pubkey/offerings/:offering_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'Update an offering (partial)', params: OfferingParams, body: OfferingUpdate, response: { 200: Offering, ...errors(400, 401, 403, 404) } },
    }, async (req) => {
      const { pubkey, offering_id } = req.params as OP;
      return updateOffering(ctx.db, pubkey, offering_id, req.body as OfferingUpdate);
    });

    app.delete('/providers/:pubkey/offerings/:offering_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['offerings'], summary: 'Delete an offering (409 while it has unfinished contracts)', params: OfferingParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } },
    }, async (req, reply) => {
      const { pubkey, offering_id } = req.params as OP;
      await deleteOffering(ctx.db, pubkey, offering_id);
      return reply.code(204).send();
    });
  };
}
