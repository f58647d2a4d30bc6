export * from './regions.js';
export * from './signing.js';
export * from './tokens.js';
export * from './schemas.js';
export * from './ssh.js';
export * from './contract-states.js';
