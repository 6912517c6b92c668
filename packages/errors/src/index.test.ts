import { describe, expect, it } from 'vitest';
import { FerryError, isFerryError } from './index.js';

describe('FerryError', () => {
  it('carries a stable code, details and a cause', () => {
    const cause = new Error('socket hang up');
    const err = new FerryError('CONNECTION_FAILED', 'cannot reach 127.0.0.1:1', {
      cause,
      details: { port: 1 },
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ port: 1 });
    expect(isFerryError(err, 'CONNECTION_FAILED')).toBe(true);
    expect(isFerryError(err, 'AUTH_FAILED')).toBe(false);
    expect(isFerryError(cause)).toBe(false);
  });
});
