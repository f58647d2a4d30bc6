import type { ProvisionerConfig } from '../config.js';
import type { Logger } from '../log.js';
import { ManualProvisioner } from './manual.js';
import { ProxmoxProvisioner } from './proxmox/provisioner.js';
import { ScriptProvisioner } from './script.js';
import type { Provisioner } from './types.js';

export function createProvisioner(cfg: ProvisionerConfig, log: Logger): Provisioner {
  switch (cfg.type) {
    case 'script':
      return new ScriptProvisioner(cfg.script, log);
    case 'proxmox':
      return new ProxmoxProvisioner(cfg.proxmox, log);
    case 'manual':
      return new ManualProvisioner(cfg.manual, log);
    default: {
      const never: never = cfg;
      return never;
    }
  }
}
