// The replica handshake's line protocol: one reply line at a time, and what a refusal means.
import type { Socket } from 'node:net';
import { FerryError } from '@ferry/errors';

const NL = 0x0a;

/** Why a source refused PSYNC or SYNC, as an error that says what to do. */
export function handshakeError(name: string, msg: string, afterSync: boolean): FerryError {
  if (/^NOPERM/i.test(msg)) {
    return new FerryError(
      'SYNC_NOT_PERMITTED',
      `the user may not replicate from ${name} (needs +psync +sync +replconf): ${msg}`,
    );
  }
  if (/unknown command/i.test(msg)) {
    return new FerryError(
      'SYNC_NOT_PERMITTED',
      `${name} refuses ${afterSync ? 'both PSYNC and SYNC' : 'PSYNC'} (disabled or renamed with rename-command; cloud services often do this): ${msg}`,
    );
  }
  if (/^(LOADING|NOMASTERLINK|MASTERDOWN)/i.test(msg)) {
    return new FerryError('SOURCE_NOT_READY', `${name} cannot serve a sync yet (retry later): ${msg}`);
  }
  if (/^NOAUTH/i.test(msg))
    return new FerryError('AUTH_FAILED', `source ${name} requires a password: ${msg}`);
  return new FerryError('SYNC_NOT_PERMITTED', `${name} refused to sync: ${msg}`);
}

/** Reads one CRLF-terminated line from the socket (after `pending` bytes), skipping bare "\n" keep-alives. */
export function readLine(
  socket: Socket | undefined,
  pending: Buffer,
  name: string,
  timeoutMs: number,
): Promise<{ line: string; rest: Buffer }> {
  if (!socket) return Promise.reject(new FerryError('CONNECTION_CLOSED', `no connection to ${name}`));
  return new Promise((resolve, reject) => {
    let buf = pending;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(new FerryError('TIMEOUT', `${name} sent nothing for ${timeoutMs} ms during the handshake`)),
        timeoutMs,
      );
    };
    const finish = (err?: Error, value?: { line: string; rest: Buffer }): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      socket.pause();
      if (err) reject(err);
      else if (value) resolve(value);
    };
    const scan = (): boolean => {
      while (buf.length > 0 && buf[0] === NL) buf = buf.subarray(1); // keep-alive
      const end = buf.indexOf('\r\n');
      if (end < 0) {
        if (buf.length > 4096)
          finish(
            new FerryError('PROTOCOL_ERROR', `${name} sent a line longer than 4 KB during the handshake`),
          );
        return false;
      }
      finish(undefined, { line: buf.toString('latin1', 0, end), rest: buf.subarray(end + 2) });
      return true;
    };
    const onData = (chunk: Buffer): void => {
      arm();
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      scan();
    };
    const onClose = (): void =>
      finish(new FerryError('CONNECTION_CLOSED', `${name} closed the connection during the handshake`));
    const onError = (err: Error): void =>
      finish(
        new FerryError('CONNECTION_CLOSED', `connection to ${name} failed: ${err.message}`, {
          cause: err,
        }),
      );
    if (scan()) return;
    arm();
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.resume();
  });
}
