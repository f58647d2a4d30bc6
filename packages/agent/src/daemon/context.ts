import type { AgentSection } from '../config.js';
import type { ApiClient } from '../api/client.js';
import type { Logger } from '../log.js';
import type { Provisioner } from '../provisioners/types.js';
import type { StateFile } from './state.js';

/** What every loop of the daemon shares. */
export interface DaemonContext {
  cfg: AgentSection;
  api: ApiClient;
  provisioner: Provisioner;
  log: Logger;
  state: StateFile;
  agentPubkey: string;
  /**
   * Reports an error; when classify() calls it fatal, the daemon starts stopping and this returns
   * true (the caller stops too). Loops call it for every error they cannot handle themselves.
   */
  fatal(err: unknown): boolean;
}
