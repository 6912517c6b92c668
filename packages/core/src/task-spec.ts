import type { CheckpointStore } from './checkpoint.js';
import type { Endpoint } from './endpoint.js';
import type { TaskOptions } from './options.js';
import type { Logger } from './plugins.js';
import type { ProxyKind } from './target/proxy.js';
import type { Verifier } from './verification.js';

export interface TaskSpec {
  /** Stable id: checkpoints and the target's checkpoint keys are named after it. Letters, digits, . _ - */
  id?: string;
  name?: string;
  tags?: string[];
  source: { topology: string; options: unknown };
  /**
   * `cluster`: a Redis Cluster (endpoint: any node). `proxy`: twemproxy or codis-proxy in front of
   * the servers (db 0, no MULTI/SELECT; codis: no RESTORE), with the servers' `version` if known.
   */
  target: {
    endpoint: Endpoint;
    cluster?: boolean;
    proxy?: ProxyKind;
    version?: string;
    maxKeyBytes?: number;
  };
  options?: TaskOptions;
}

export interface EngineServices {
  checkpoints: CheckpointStore;
  /** Spool files go under `<spoolDir>/<taskId>/<shardId>`. */
  spoolDir: string;
  log?: Logger;
  /** The verifier (`@ferry/verify`), for `task.verify()` and the check before "done". */
  verifier?: Verifier;
  /** How long the task's lease on the target lasts without a renewal. Default 15 s. */
  leaseTtlMs?: number;
}

/** Errors a new pass can get past (the link or a node dropped, a node was loading). */
