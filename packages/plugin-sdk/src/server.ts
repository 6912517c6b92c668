import type { Endpoint } from './endpoint.js';

/**
 * Which server a node is, read from its INFO server: the product, its own version, the RDB format
 * it writes and the newest RDB its RESTORE accepts. Compatible servers keep `redis_version` at the
 * Redis release they forked from (Valkey says 7.2.4 whatever its version), so that field alone
 * misnames them.
 */
export interface ServerIdentity {
  product: 'redis' | 'valkey' | 'keydb' | 'dragonfly';
  /** The product's own version ("8.0.1" for Valkey 8.0.1). */
  version: string;
  /** What INFO's `redis_version` says (the Redis release it is compatible with). */
  redisVersion: string;
  /** The RDB it writes: `REDIS` and a version, or Valkey's own `VALKEY` format (9.0: 80, 9.2: 81). */
  writes: { magic: 'REDIS' | 'VALKEY'; version: number };
  /** The newest RDB version (REDIS numbering) its RESTORE takes. */
  restoreAccepts: number;
  /**
   * The newest of Valkey's own RDB versions (80 on) its RESTORE takes: Valkey 9.0+ (which refuses
   * the REDIS versions 12–79, foreign to it). Undefined: none.
   */
  restoreAcceptsValkey?: number;
  /** "Valkey 8.0.1", "Redis 7.0.15". */
  label: string;
}

/** One INFO section (or all of it) as field → value. */
export type Info = Record<string, string>;

/** A CONFIG GET answer: the value, or why it could not be read (no permission, renamed, too old). */
export type ConfigValue = { value: string } | { refused: string };

/**
 * Read-only access to the nodes of a precheck, shared by every check of one run: one connection
 * per node and db, INFO and CONFIG GET answers cached. It is for reads: a check never writes,
 * never forks the server (no BGSAVE, SAVE or DEBUG).
 */
export interface ReadOnlyProbe {
  /** Aborted when the run is stopped: a check that waits passes it on. */
  readonly signal: AbortSignal;
  /**
   * Sends one read command (in `db`) and gives its reply as decoded: text, a Buffer for bulk
   * strings, a number, null, or an array of these. A server error rejects (a ReplyError), so does a
   * node that cannot be reached.
   */
  command(node: Endpoint, args: Array<string | number | Buffer>, db?: number): Promise<unknown>;
  /** INFO (all default sections, or one), parsed and cached per node. */
  info(node: Endpoint, section?: string): Promise<Info>;
  /** INFO's `redis_version` (the Redis release the server is compatible with). */
  version(node: Endpoint): Promise<string>;
  /** Which server it is: product, its own version, the RDB it writes and the newest its RESTORE takes. */
  identity(node: Endpoint): Promise<ServerIdentity>;
  /** CONFIG GET of one parameter; a refusal (NOPERM, renamed CONFIG, unknown parameter) is returned, not thrown. */
  config(node: Endpoint, name: string): Promise<ConfigValue>;
  /** The masters of a cluster from CLUSTER NODES of `seed`; undefined when `seed` is not a cluster node. */
  clusterMasters(seed: Endpoint): Promise<Endpoint[] | undefined>;
  /** Bytes the checks of this run have sent to `node` (to tell the node's traffic from the checks' own). */
  bytesSent(node: Endpoint): number;
}
