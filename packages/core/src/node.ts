// `@dc/core/node`: the node-only part of core (key generation, signing and hashing with
// node:crypto, token generation). Everything else is in `@dc/core`, which runs in a browser.
export * from './node/signing.js';
export * from './node/tokens.js';
