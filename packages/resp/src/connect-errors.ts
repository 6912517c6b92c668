// The errors of opening a connection, each naming where and what to check.
import { FerryError } from '@ferry/errors';
import type { ReplyError } from './errors.js';

export function connectError(where: string, err: NodeJS.ErrnoException, tls: boolean): FerryError {
  const reason =
    err.code === 'ECONNREFUSED'
      ? 'connection refused (is the server running on that port?)'
      : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
        ? 'host name not found'
        : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH'
          ? 'host unreachable'
          : tls
            ? `TLS handshake failed: ${err.message}`
            : err.message;
  return new FerryError('CONNECTION_FAILED', `cannot connect to ${where}: ${reason}`, { cause: err });
}

export function authError(where: string, err: ReplyError, username: string | undefined): FerryError {
  const msg = err.message;
  let reason: string;
  if (err.kind === 'WRONGPASS' || /invalid (username-password pair|password)/i.test(msg)) {
    reason = username ? `wrong password for user "${username}", or the user is disabled` : 'wrong password';
  } else if (/no password is set|without any password configured/i.test(msg)) {
    reason = 'a password was given but the server has none set';
  } else if (/wrong number of arguments for 'auth'/i.test(msg)) {
    reason = 'ACL users need Redis 6 or newer; give the password alone';
  } else if (err.kind === 'NOAUTH') {
    reason = 'the server requires a password and none was given';
  } else if (err.kind === 'NOPERM') {
    reason = `the user lacks a permission: ${msg}`;
  } else {
    return new FerryError('CONNECTION_FAILED', `setting up the connection to ${where} failed: ${msg}`, {
      cause: err,
    });
  }
  return new FerryError('AUTH_FAILED', `authentication to ${where} failed: ${reason} (${msg})`, {
    cause: err,
  });
}
