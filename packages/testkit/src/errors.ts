/** Error codes of the test harness; stable so tests can match on them. */
export type TestkitErrorCode =
  | 'TESTKIT_BINARY_NOT_FOUND'
  | 'TESTKIT_UNAVAILABLE'
  | 'TESTKIT_START_FAILED'
  | 'TESTKIT_TIMEOUT'
  | 'TESTKIT_INVALID_ARGUMENT';

export class TestkitError extends Error {
  override readonly name = 'TestkitError';
  constructor(
    readonly code: TestkitErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when something a test needs cannot run on this machine (tests turn it into a skip with the reason). */
export class TestkitUnavailableError extends TestkitError {
  constructor(message: string) {
    super('TESTKIT_UNAVAILABLE', message);
  }
}
