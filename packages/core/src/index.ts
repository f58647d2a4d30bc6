// `@dc/core`: the contract every part imports. Browser-safe; node-only pieces are `@dc/core/node`.
export * from './regions.js';
export * from './routing.js';
export * from './signing.js';
export * from './tokens.js';
export * from './limits.js';
export * from './errors.js';
export * from './contract-states.js';
export * from './schemas/index.js';
export * from './endpoints.js';
export * from './ssh.js';
