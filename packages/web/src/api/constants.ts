// Enumerations the forms need at run time. @dc/core cannot be bundled (it imports node:crypto),
// so these are copies; test/constants.test.ts fails when they drift from core.
import type { ContractStatus, ProvisionerType } from '@dc/core';

export const REGION_IDS = ['europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis'] as const;
export type RegionId = (typeof REGION_IDS)[number];
export const REGION_NAMES: Record<RegionId, string> = {
  europe: 'Europe',
  na: 'North America',
  latam: 'Latin America',
  apac: 'Asia Pacific',
  mena: 'Middle East & North Africa',
  ssa: 'Sub-Saharan Africa',
  cis: 'CIS (Russia & neighbors)',
};

export const PROVISIONER_TYPES: readonly ProvisionerType[] = ['proxmox', 'script', 'manual'];

export const CONTRACT_STATUSES: readonly ContractStatus[] = [
  'requested',
  'accepted',
  'rejected',
  'provisioning',
  'provisioned',
  'provisioning_failed',
  'cancelled',
];

/** core POOL_NAME_PATTERN, LABEL_PATTERN, OFFERING_ID_PATTERN (checked by the same test). */
export const POOL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const LABEL_PATTERN = '^[A-Za-z0-9._ -]{1,64}$';
export const OFFERING_ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

/** Offerings per page in the offerings table. */
export const OFFERINGS_PAGE_SIZE = 50;
/** Contracts per page. */
export const CONTRACTS_PAGE_SIZE = 100;
/** How often live tables re-read the API (ms): an agent coming online shows within this. */
export const POLL_MS = 2500;
