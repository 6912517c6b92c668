// The task's options as a plugin sees them (resolved: defaults applied). The engine parses them (@ferry/core options.ts).

export type WriteMode = 'auto' | 'restore' | 'rewrite';
export type ConflictPolicy = 'fail' | 'replace' | 'skip';

/** Where a source db's keys go: a target db and an optional prefix added to every key. */
export interface DbTarget {
  db: number;
  prefix?: string;
}

/** Source db → target; `*` is every db not listed. A db that maps nowhere is not migrated. */
export type DbMap = Partial<Record<number | '*', DbTarget>>;

export type KeyPattern = { prefix: string } | { glob: string } | { regex: string };

export interface KeyFilterSpec {
  /** A key is migrated when it matches one of these (or when there are none)… */
  include?: KeyPattern[];
  /** …and none of these. */
  exclude?: KeyPattern[];
}

export interface RateLimit {
  /** Keys (snapshot) or commands (stream) per second; 0 or absent: unlimited. */
  keysPerSec?: number;
  /** Bytes written to the target per second; 0 or absent: unlimited. */
  bytesPerSec?: number;
}

export type SnapshotThreads = 'auto' | 'always' | 'never';

/**
 * The target's import mode (Valkey 8.1+: it neither expires nor evicts keys while they arrive):
 * `auto` turns it on where the target has it and allows it, `on` requires it, `off` never.
 */
export type ImportMode = 'auto' | 'on' | 'off';

export interface ResolvedOptions {
  dbMap: DbMap | undefined;
  filter: KeyFilterSpec;
  renamePrefix: string;
  rateLimit: RateLimit;
  writeMode: WriteMode;
  conflict: ConflictPolicy;
  bigKeyThreshold: number;
  maxInFlight: number;
  maxInFlightBytes: number;
  sourceHeartbeat: boolean;
  snapshotThreads: SnapshotThreads;
  targetImportMode: ImportMode;
  reservedPrefix: string;
  /** The transforms the task applies to keys, in order (their ids). */
  transforms: string[];
}

/** A target that is a proxy: it takes only some commands (see @ferry/core's target/proxy.ts). */
export type ProxyKind = 'twemproxy' | 'codis';
