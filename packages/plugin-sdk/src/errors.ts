import type { FerryErrorCode } from '@ferry/errors';

/**
 * An error a plugin throws with one of Ferry's stable codes (`CONFIG_INVALID`, `CONNECTION_FAILED`,
 * `AUTH_FAILED`, `TIMEOUT`, …): the engine reports it under that code, as it does its own — the CLI
 * prints it with what to do, the gateway returns it as `extensions.code`.
 */
export class PluginError extends Error {
  override name = 'PluginError';

  constructor(
    readonly code: FerryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Options that do not match their schema. */
export class OptionsError extends PluginError {
  override name = 'OptionsError';

  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}
