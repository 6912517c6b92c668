import { createServer, type Server, type Socket } from 'node:net';
import { RespDecoder, type RespValue } from '@ferry/resp';

const servers: Server[] = [];

/** Closes the masters a test started. */
export function closeScriptedMasters(): void {
  for (const s of servers.splice(0)) s.close();
}

/**
 * A master answering each command with `answer` (which writes to the socket); once `answer` returns
 * true the connection carries the replication stream, and what the replica sends on it is recorded.
 */
export async function scriptedMaster(
  answer: (argv: string[], socket: Socket) => boolean | undefined,
): Promise<{ port: number; got: string[]; afterSync: Buffer[] }> {
  const got: string[] = [];
  const afterSync: Buffer[] = [];
  const server = createServer((socket) => {
    const decoder = new RespDecoder();
    let streaming = false;
    socket.on('data', (chunk) => {
      if (streaming) {
        afterSync.push(chunk);
        return;
      }
      decoder.feed(chunk, (value: RespValue) => {
        const argv = (value as Buffer[]).map((a) => a.toString('latin1'));
        got.push(argv.join(' '));
        if (answer(argv, socket)) streaming = true;
      });
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { port: address.port, got, afterSync };
}
