/**
 * Stable error codes: the CLI prints them, the gateway maps them to `extensions.code`, tests match
 * on them. Add codes; never rename one.
 */
export type FerryErrorCode =
  | 'CONFIG_INVALID'
  | 'CONNECTION_FAILED'
  | 'CONNECTION_CLOSED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'AUTH_FAILED'
  | 'PROTOCOL_ERROR'
  | 'SYNC_NOT_PERMITTED'
  | 'SOURCE_NOT_READY'
  | 'RESYNC_REQUIRED'
  | 'RDB_CORRUPT'
  | 'RDB_UNSUPPORTED'
  | 'TARGET_WRITE_FAILED'
  /** A checkpoint made with other settings than the task's now. */
  | 'CHECKPOINT_MISMATCH'
  /** Another process holds the task's lease, or this one lost it. */
  | 'LEASE_HELD'
  /** The target does not hold what the source holds (the check before "done"). */
  | 'NOT_IN_SYNC'
  /** A disk ran out of space (the spool). */
  | 'DISK_FULL';

/** An error with a stable `code` and, where it helps, the figures behind it. */
export class FerryError extends Error {
  override name = 'FerryError';

  constructor(
    readonly code: FerryErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.details) this.details = options.details;
  }

  details?: Record<string, unknown>;
}

export function isFerryError(err: unknown, code?: FerryErrorCode): err is FerryError {
  return err instanceof FerryError && (code === undefined || err.code === code);
}
