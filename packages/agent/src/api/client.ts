// The dc-api client: one transport, one object per resource.
import type { Identity } from '@dc/core/node';
import { AgentsApi } from './agents.js';
import { ContractsApi } from './contracts.js';
import { Transport } from './transport.js';

export class ApiClient {
  readonly transport: Transport;
  readonly agents: AgentsApi;
  readonly contracts: ContractsApi;

  constructor(apiUrl: string, identity: Identity, providerPubkey: string) {
    this.transport = new Transport(apiUrl, identity);
    this.agents = new AgentsApi(this.transport, providerPubkey);
    this.contracts = new ContractsApi(this.transport, providerPubkey);
  }

  close(): void {
    this.transport.close();
  }
}
