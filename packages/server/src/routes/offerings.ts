import { ENDPOINTS } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { fail } from '../errors.js';
import { createOffering, deleteOffering, getOffering, listOfferings, updateOffering } from '../store/offerings.js';
import { exportOfferingsCsv, importOfferingsCsv } from '../store/offerings-csv.js';
import { offeringRoundTrip, sentReadOnly } from '../http/round-trip.js';
import { route } from './common.js';

export function offeringRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    route(app, ENDPOINTS.listOfferings, async (req) => listOfferings(ctx.db, req.params.pubkey, req.query));

    route(app, ENDPOINTS.createOffering, async (req) => createOffering(ctx.db, req.params.pubkey, req.body));

    route(app, ENDPOINTS.exportOfferings, async (req, reply) => {
      const csv = await exportOfferingsCsv(ctx.db, req.params.pubkey);
      reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="offerings.csv"');
      return csv;
    });

    route(app, ENDPOINTS.importOfferings, async (req) => {
      // The body is parsed as text for text/csv (and text/plain); anything else arrives as bytes.
      const body: unknown = req.body;
      if (typeof body !== 'string') throw fail('invalid_csv', 'Send the CSV as the body with Content-Type: text/csv.');
      return importOfferingsCsv(ctx.db, req.params.pubkey, body);
    }, { bodyLimit: ctx.config.csvBodyLimitBytes });

    route(app, ENDPOINTS.getOffering, async (req) => getOffering(ctx.db, req.params.pubkey, req.params.offering_id));

    route(app, ENDPOINTS.updateOffering, async (req) => updateOffering(ctx.db, req.params.pubkey, req.params.offering_id, req.body, sentReadOnly(req)), {
      preValidation: offeringRoundTrip,
    });

    route(app, ENDPOINTS.deleteOffering, async (req) => {
      await deleteOffering(ctx.db, req.params.pubkey, req.params.offering_id);
    });
  };
}
