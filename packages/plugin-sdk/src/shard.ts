import type { Endpoint } from './endpoint.js';

export interface ShardSpec {
  /** Stable over the task's life: checkpoints, spool directories and target checkpoint keys are named after it. */
  id: string;
  primary: Endpoint;
  replicas: Endpoint[];
  /** The slots whose keys are this shard's, as inclusive ranges, in `slotScheme`'s numbering. */
  slots?: Array<[number, number]>;
  /**
   * How a key's slot is computed for `slots`: `cluster` (CRC16 of the hash tag, 16384 slots; the
   * default) or `codis` (CRC32 of Codis's hash tag, 1024 slots).
   */
  slotScheme?: 'cluster' | 'codis';
  /**
   * Other names this shard may have had in an earlier discovery (a cluster shard is named after its
   * primary, which a failover changes): a stored checkpoint under one of them is this shard's.
   */
  aliases?: string[];
  /** Read from a replica when there is one (default true); false follows the primary, also after a failover. */
  preferReplica?: boolean;
  /**
   * A backup file this shard is read from instead of a server (a file source's shards): its
   * `primary` is then only a name, and the task's checks read the file, not a server.
   */
  file?: { path: string; format: 'rdb' | 'aof' };
}
