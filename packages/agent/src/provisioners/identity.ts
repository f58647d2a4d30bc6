// How a machine carries its contract: the tag `dc-<contract_id>` (DESIGN.md "Machine identity").
// Teardown and inventory go by this tag alone, never by a numeric id a hypervisor may reuse.
import { hostname } from 'node:os';
import { INVENTORY_MAX } from '@dc/core';
import type { Reader } from '../config-reader.js';

const TAG_PREFIX = 'dc-';
/** Contract ids are UUIDs (dc-api makes them); only tags of that shape count as contract tags. */
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CONTRACT_TAG_RE = new RegExp(`^dc-(${UUID})$`);
/** A name that starts with a contract's tag (proxmox names VMs `dc-<id>-<hostname>`). */
const CONTRACT_NAME_RE = new RegExp(`^dc-(${UUID})(?:-|$)`);

/** The tag that marks a machine as this contract's (also valid as a Proxmox tag and a DNS label). */
export function contractTag(contractId: string): string {
  return `${TAG_PREFIX}${contractId.toLowerCase().replace(/[^a-z0-9_+.-]/g, '-')}`;
}

/** The contract id a tag names, or null for any other tag (a provider's own `dc-prod`, say). */
export function contractOfTag(tag: string): string | null {
  return CONTRACT_TAG_RE.exec(tag.trim().toLowerCase())?.[1] ?? null;
}

/** The contract id a machine's name starts with, or null. */
export function contractOfName(name: string): string | null {
  return CONTRACT_NAME_RE.exec(name.toLowerCase())?.[1] ?? null;
}

/** Sorted, unique, at most INVENTORY_MAX. */
export function inventoryOf(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort().slice(0, INVENTORY_MAX);
}

/** The default host_scope of a provisioner that manages this host. */
export function defaultHostScope(): string {
  return hostname();
}

const HOST_SCOPE_RE = /^[A-Za-z0-9][A-Za-z0-9._:@\/-]{0,199}$/;

/** The optional `host_scope` key of a provisioner's section. */
export function readHostScope(section: Reader): string | null {
  return section.str('host_scope', { pattern: HOST_SCOPE_RE, hint: 'up to 200 letters, digits and . _ : @ / -, starting with a letter or digit' });
}
