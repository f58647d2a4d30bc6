export * from './common.js';
export * from './providers.js';
export * from './pools.js';
export * from './agents.js';
export * from './offerings.js';
export * from './contracts.js';
export * from './provisioning.js';
export * from './observability.js';
