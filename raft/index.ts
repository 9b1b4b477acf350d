// Public surface of the consensus core.
export * from './confchange-codec.js';
export * from './errors.js';
export type { RaftBugs, RaftConfig, RaftStatus } from './raft.js';
export { CAMPAIGN_TRANSFER, DEFAULTS } from './raft.js';
export * from './rawnode.js';
export type { ReadOnlyOption } from './readonly.js';
export * from './storage.js';
export * from './types.js';
