// The provisioner registry: type → module. A new provisioner is a module exporting a
// ProvisionerModule and one line here; config, setup, doctor and run find it through this map.
import { PROVISIONER_TYPES, type ProvisionerType } from '@dc/core';
import type { Reader } from '../config-reader.js';
import type { Logger } from '../log.js';
import { manualProvisioner } from './manual.js';
import { proxmoxProvisioner } from './proxmox/index.js';
import { scriptProvisioner } from './script.js';
import type { Provisioner, ProvisionerModule } from './types.js';

// `satisfies`: a type core knows and the agent does not (or the reverse) breaks the build here.
const MODULES = {
  proxmox: proxmoxProvisioner,
  script: scriptProvisioner,
  manual: manualProvisioner,
} as const satisfies { [T in ProvisionerType]: ProvisionerModule<T, unknown> };

type SettingsOf<T extends ProvisionerType> = (typeof MODULES)[T] extends ProvisionerModule<T, infer C> ? C : never;
/** Each type's module, typed so that a config read by one module can only go to its own factory. */
export const PROVISIONERS: { readonly [T in ProvisionerType]: ProvisionerModule<T, SettingsOf<T>> } = MODULES;

/** The `[provisioner]` table as read: its type and that type's settings. */
export type ProvisionerConfig<T extends ProvisionerType = ProvisionerType> = { [K in T]: { type: K; settings: SettingsOf<K> } }[T];

export function isProvisionerType(t: string): t is ProvisionerType {
  return (PROVISIONER_TYPES as readonly string[]).includes(t);
}

/** Reads `[provisioner]`: `type`, then that type's own section. */
export function readProvisionerConfig(p: Reader): ProvisionerConfig {
  const type = p.oneOf<ProvisionerType>('type', PROVISIONER_TYPES, 'proxmox');
  const config = readAs(type, p);
  // Sections of other types may stay in the file (switching back is an edit of `type`).
  p.noOthers(PROVISIONER_TYPES.filter((t) => t !== type));
  return config;
}

function readAs<T extends ProvisionerType>(type: T, p: Reader): ProvisionerConfig<T> {
  return { type, settings: PROVISIONERS[type].readConfig(p) } as ProvisionerConfig<T>;
}

export function createProvisioner<T extends ProvisionerType>(cfg: ProvisionerConfig<T>, log: Logger): Provisioner {
  return PROVISIONERS[cfg.type].create(cfg.settings, log);
}

/** What setup writes for a pool's provisioner type (nothing for a type this agent does not know). */
export function configTemplate(type: string): readonly string[] {
  return isProvisionerType(type) ? PROVISIONERS[type].configTemplate : [];
}

/** What setup prints for a pool's provisioner type. */
export function nextSteps(type: string): readonly string[] {
  return isProvisionerType(type) ? PROVISIONERS[type].nextSteps : [];
}
