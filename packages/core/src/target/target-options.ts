import type { Endpoint } from '../endpoint.js';
import type { LeaseFence } from '../lease.js';
import type { ProxyKind } from './proxy.js';

export interface TargetOptions {
  endpoint: Endpoint;
  /** A Redis Cluster: discover its masters from this seed and route by slot. */
  cluster?: boolean;
  /**
   * A proxy in front of the real servers (twemproxy, codis-proxy): db 0 only, no SELECT, no MULTI,
   * no INFO. Its backends' Redis version comes from `version` (default 3.2.0, the oldest Ferry
   * assumes behind a proxy: codis-server is a 3.2 fork).
   */
  proxy?: ProxyKind;
  /** The target's Redis version when it cannot be asked (a proxy). */
  version?: string;
  /** Longest key the target takes (twemproxy: its mbuf size less 48, 16 335 by default). */
  maxKeyBytes?: number;
  maxInFlight?: number;
  signal?: AbortSignal;
  /** How long a retryable condition (LOADING, TRYAGAIN, CLUSTERDOWN, a lost connection) may last. Default 60 s. */
  retryForMs?: number;
  /** Called for things worth an event: topology refresh, retries. */
  onNotice?: (message: string) => void;
  /** Mark every connection `CLIENT IMPORT-SOURCE ON` (the target is in import mode: import-mode.ts). */
  importSource?: boolean;
  /** Every connection opened to a master proves first that this process holds the task's lease. */
  fence?: LeaseFence;
  /**
   * A new connection found the lease's epoch key gone: the target lost the task's data. Without
   * this hook that connection is refused (RESYNC_REQUIRED); with it, the connection is used and
   * the owner (the task, which takes the lease again and writes the snapshot again) is told.
   */
  onTargetLost?: (node: string) => void;
}

export interface SendOptions {
  /** Safe to send again after a lost connection (RESTORE REPLACE, rewrite into a temporary key…). */
  idempotent?: boolean;
}
