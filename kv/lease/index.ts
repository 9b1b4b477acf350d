// Leases: the replicated table (applied from the log on every member, no clock) and the leader's
// expiry clock (not replicated). See docs/kv.md, "Leases", for how the two meet through raft.

export {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_MAX_CHECKPOINTS_PER_BATCH,
  DEFAULT_MAX_REVOKES_PER_SECOND,
  DEFAULT_RENEW_SLACK_MS,
  DEFAULT_REVOKE_RETRY_MS,
  DEFAULT_TAKEOVER_GRACE_MS,
  type ExpiredBatch,
  LeaseExpiry,
  type LeaseExpiryOptions,
} from './expiry.js';
export { LeaseIdGenerator, MAX_LEASE_ID_PROBES } from './ids.js';
export {
  DEFAULT_MIN_TTL_SECONDS,
  type LeaseCheckpoint,
  type LeaseInfo,
  LeaseTable,
  type LeaseTableOptions,
  type LeaseTimeToLive,
  MAX_LEASE_TTL_SECONDS,
  minTtlSecondsFor,
} from './lessor.js';
