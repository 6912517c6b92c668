import type { RespValue } from '@ferry/resp';
import type { Endpoint } from './endpoint.js';
import type { DbMap, KeyFilterSpec } from './options.js';

/** A side of a verification: one server, a cluster, or several servers each holding part of the keys. */
export type VerifySide =
  | { endpoint: Endpoint; cluster?: boolean }
  | { shards: Endpoint[] }
  /**
   * A side with no server: each read command answered by `read` (a backup file's sampled keys).
   * Only with `keys` (nothing to SCAN).
   */
  | {
      read: (db: number, key: Buffer, argv: Array<string | number | Buffer>) => Promise<RespValue>;
      /**
       * Many reads at once, replies in order (rejecting as `read` would on the first that fails):
       * a stage of a batch of keys in one round trip and one promise instead of one per command.
       */
      readMany?: (
        items: ReadonlyArray<{ db: number; key: Buffer; argv: Array<string | number | Buffer> }>,
      ) => Promise<RespValue[]>;
    };

export type VerifyModeName = 'outline' | 'length' | 'full';

export interface VerificationRequest {
  source: VerifySide;
  target: VerifySide;
  mode: VerifyModeName;
  rounds: number;
  intervalMs: number;
  sample?: number;
  keysPerSec?: number;
  dbMap?: DbMap;
  renamePrefix?: string;
  filter?: KeyFilterSpec;
  /**
   * The task's key transforms: a source key's name before the prefixes (null: not migrated), and,
   * when every transform has one, the inverse (without it target keys are not traced back).
   */
  transform?: {
    ids: string[];
    key(key: Buffer, db: number): Buffer | null;
    sourceKey?: (targetKey: Buffer, db: number) => Buffer | null;
  };
  /** Keys under it are Ferry's own, not compared. Default `__ferry:`. */
  reservedPrefix?: string;
  /** Compare these source keys only (no SCAN of either side): a sample chosen by the caller. */
  keys?: Array<{ db: number; key: Buffer }>;
  /** Longer values are compared by type, length and expiry only (elements; bytes of a string). */
  valueLimit?: { elements: number; bytes: number };
  signal?: AbortSignal;
  onProgress?: (p: { round: number; keysChecked: number; differences: number }) => void;
}

/** What a verification found (keys as latin1 text, so any byte survives storage as JSON). */
export interface VerificationReport {
  mode: VerifyModeName;
  rounds: number;
  keysChecked: number;
  perRound: number[];
  counts: Record<string, number>;
  differences: number;
  details: Array<{
    kind: string;
    db: number;
    key: string;
    targetDb: number;
    targetKey: string;
    detail?: string;
  }>;
  /** Keys whose values were longer than `valueLimit` (compared by type, length and expiry only). */
  valuesNotRead?: number;
  /** Set when target keys were not traced back to the source, saying why (a transform without an inverse). */
  oneWay?: string;
  durationMs: number;
}

/**
 * The verification port: `@ferry/verify` implements it (apps inject it, so core does not depend on
 * the verifier), the service keeps the reports.
 */
export type Verifier = (req: VerificationRequest) => Promise<VerificationReport>;
