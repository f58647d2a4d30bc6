// Offerings: paginated list with filters, create, partial update, delete, CSV import and export.
import type { Offering, OfferingCreate, OfferingListQuery, OfferingUpdate } from '@dc/core';
import { providerPath, type Client } from './client.js';

export interface OfferingPage {
  items: Offering[];
  total: number;
}

export interface CsvImportResult {
  imported: number;
  created: number;
  updated: number;
}

export function listOfferings(c: Client, q: OfferingListQuery, signal?: AbortSignal): Promise<OfferingPage> {
  return c.request<OfferingPage>('GET', providerPath(c.publicKey, 'offerings'), { query: { ...q }, ...(signal ? { signal } : {}) });
}

export function createOffering(c: Client, input: OfferingCreate): Promise<Offering> {
  return c.request<Offering>('POST', providerPath(c.publicKey, 'offerings'), { json: input });
}

export function updateOffering(c: Client, offeringId: string, patch: OfferingUpdate): Promise<Offering> {
  return c.request<Offering>('PUT', providerPath(c.publicKey, 'offerings', offeringId), { json: patch });
}

export function deleteOffering(c: Client, offeringId: string): Promise<void> {
  return c.request<void>('DELETE', providerPath(c.publicKey, 'offerings', offeringId));
}

/** All or nothing: a 400 invalid_csv ApiError carries `rows` with every bad line. */
export function importOfferingsCsv(c: Client, csv: string): Promise<CsvImportResult> {
  return c.request<CsvImportResult>('POST', providerPath(c.publicKey, 'offerings', 'import'), { csv });
}

export function exportOfferingsCsv(c: Client): Promise<string> {
  return c.request<string>('GET', providerPath(c.publicKey, 'offerings', 'export'), { text: true });
}
