// Where an offering being edited will route, before it is saved: core's routing rule
// (routeOffering) over the provider's pools, with the provisioner type an offering gets when the
// form leaves it on Default (DESIGN.md "Endpoints", v3): the explicit pool's type; else the type of
// the provider's oldest pool in the offering's region; else proxmox.
import { comparePoolAge, countryToRegion, isCountryCode, routeOffering, type Pool, type ProvisionerType, type RegionId } from '@dc/core';

/** The type when nothing else decides it (no explicit pool, no pool in the region). */
export const FALLBACK_PROVISIONER_TYPE: ProvisionerType = 'proxmox';

export interface DefaultType {
  type: ProvisionerType;
  /** The pool whose type it is (the explicit one, or the region's oldest), null for the fallback. */
  from: Pool | null;
  why: 'explicit' | 'oldest' | 'fallback';
}

/** The type an offering without one gets, given its region (null: not known yet) and explicit pool. */
export function defaultProvisionerType(region: RegionId | null, pools: readonly Pool[], explicitPoolId: string | null): DefaultType {
  const explicit = explicitPoolId ? pools.find((p) => p.pool_id === explicitPoolId) : undefined;
  if (explicit) return { type: explicit.provisioner_type, from: explicit, why: 'explicit' };
  const oldest = region ? pools.filter((p) => p.location === region).sort(comparePoolAge)[0] : undefined;
  return oldest ? { type: oldest.provisioner_type, from: oldest, why: 'oldest' } : { type: FALLBACK_PROVISIONER_TYPE, from: null, why: 'fallback' };
}

export type RoutePreview =
  /** The country is not (yet) a valid code (`unknown`: two letters that name no country). */
  | { kind: 'incomplete'; unknownCountry?: string }
  | { kind: 'explicit'; pool: Pool; region: RegionId; type: ProvisionerType; typeMismatch: boolean; otherRegion: boolean }
  | { kind: 'location'; pool: Pool; region: RegionId; type: ProvisionerType }
  /** Routes nowhere: contracts wait until a pool of `type` exists in `region`. */
  | { kind: 'none'; region: RegionId; type: ProvisionerType; inRegion: Pool[] };

export interface PreviewInput {
  datacenter_country: string;
  /** '' = Default. */
  provisioner_type: ProvisionerType | '';
  /** '' = auto by location. */
  agent_pool_id: string;
}

export function previewRoute(f: PreviewInput, pools: readonly Pool[]): RoutePreview {
  const country = f.datacenter_country.trim();
  if (!isCountryCode(country)) return /^[A-Za-z]{2}$/.test(country) ? { kind: 'incomplete', unknownCountry: country } : { kind: 'incomplete' };
  const region = countryToRegion(country);
  const type = f.provisioner_type || defaultProvisionerType(region, pools, f.agent_pool_id || null).type;
  const route = routeOffering({ datacenter_country: country, provisioner_type: type, agent_pool_id: f.agent_pool_id || null }, pools);
  const pool = route.pool_id ? pools.find((p) => p.pool_id === route.pool_id) : undefined;
  if (route.pool_match === 'explicit') {
    // A pool the list does not hold (yet): nothing certain to show.
    if (!pool) return { kind: 'incomplete' };
    return { kind: 'explicit', pool, region, type, typeMismatch: pool.provisioner_type !== type, otherRegion: pool.location !== region };
  }
  if (route.pool_match === 'location' && pool) return { kind: 'location', pool, region, type };
  return { kind: 'none', region, type, inRegion: pools.filter((p) => p.location === region).sort(comparePoolAge) };
}
