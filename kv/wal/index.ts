// The durable raft log the server uses: the WAL with preallocated segments, which measured fastest
// of the safe options on this machine (docs/kv.md, "Raft log (WAL)"); LevelLog stays for comparison.

import type { RaftLog } from './durable-log.js';
import { Wal, type WalOptions } from './wal.js';

export type { RaftLog } from './durable-log.js';
export { isWalError, WalError, type WalErrorCode } from './errors.js';
export { LevelLog } from './level-log.js';
export { DEFAULT_SEGMENT_BYTES, Wal, type WalOptions } from './wal.js';

/** Opens (creating if absent) the raft log in `dir`. */
export function openRaftLog(dir: string, options: WalOptions = {}): Promise<RaftLog> {
  return Wal.open(dir, { preallocate: true, ...options });
}

export default openRaftLog;
