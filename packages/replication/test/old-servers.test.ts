// Masters older than anything that runs here (Debian has only Redis 7.0), scripted byte for byte
// after their replication.c: the one place these tests use a fake server, because no real 2.6
// server can be started on this machine. What a real 7.0 does is tested in link.test.ts.
import { mkdtempSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RdbParser } from '@ferry/rdb';
import { encodeCommand } from '@ferry/resp';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaLink, type StreamCommand } from '../src/index.js';
import { closeScriptedMasters, scriptedMaster } from './scripted-master.js';

const SHARED =
  process.env.FERRY_SHARED_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared');
/** An RDB version 6 file (what Redis 2.6 and 2.8 write): one list, as a ziplist. */
const RDB6 = readFileSync(
  join(SHARED, 'fixtures/rdb/sripathikrishnan__redis-rdb-tools/tests_dumps_ziplist_with_integers.rdb'),
);

afterEach(closeScriptedMasters);

const unknown = (socket: Socket, argv: string[]): void => {
  socket.write(`-ERR unknown command '${(argv[0] ?? '').toLowerCase()}'\r\n`);
};

const STREAM = [
  ['SELECT', '0'],
  ['SET', 'after', 'sync'],
  ['PING'],
  ['RPUSH', 'ziplist_with_integers', '42'],
].map((c) => encodeCommand(c));

describe('masters older than PSYNC (scripted after their replication.c)', () => {
  it('2.6: no REPLCONF, no PSYNC: SYNC, the payload after keep-alives, the stream, and never an ACK into it', async () => {
    const master = await scriptedMaster((argv, socket) => {
      const name = argv[0]?.toUpperCase();
      if (name === 'PING') socket.write('+PONG\r\n');
      else if (name !== 'SYNC')
        unknown(socket, argv); // REPLCONF and PSYNC came later
      else {
        socket.write('\n'); // BGSAVE in progress
        setTimeout(() => {
          socket.write(Buffer.concat([Buffer.from(`$${RDB6.length}\r\n`), RDB6]));
          setTimeout(() => socket.write(Buffer.concat(STREAM)), 50);
        }, 100);
        return true;
      }
      return false;
    });
    const link = new ReplicaLink({
      host: '127.0.0.1',
      port: master.port,
      spoolDir: mkdtempSync(join(tmpdir(), 'ferry-old-')),
      ackIntervalMs: 100,
    });
    try {
      const start = await link.start();
      expect(start).toMatchObject({ mode: 'sync', diskless: false, snapshotBytes: RDB6.length });
      const parser = new RdbParser(link.snapshot());
      const keys: string[] = [];
      for await (const batch of parser.batches())
        for (const e of batch) if (e.kind === 'key') keys.push(e.key.toString());
      expect(parser.version).toBe(6);
      expect(keys).toEqual(['ziplist_with_integers']);
      const commands = link.commands();
      const seen: StreamCommand[] = [];
      while (seen.length < STREAM.length) {
        const next = await commands.next();
        if (next.done) break;
        seen.push(next.value);
      }
      expect(seen.map((c) => c.argv.map(String).join(' '))).toEqual([
        'SELECT 0',
        'SET after sync',
        'PING',
        'RPUSH ziplist_with_integers 42',
      ]);
      // offsets count the stream's bytes from 0 (SYNC has no replication offset)
      let end = 0;
      for (const [i, c] of seen.entries()) {
        end += (STREAM[i] as Buffer).length;
        expect(c.offset).toBe(end);
      }
      // the handshake asked, the refusals were taken as this era's answers
      expect(master.got).toEqual([
        'PING',
        'REPLCONF listening-port 0',
        'REPLCONF capa eof capa psync2',
        'REPLCONF version 9.0.0',
        'PSYNC ? -1',
        'SYNC',
      ]);
      // a 2.6 master would answer a REPLCONF ACK into the replication stream: none was sent
      await new Promise((r) => setTimeout(r, 400)); // four ACK periods
      expect(Buffer.concat(master.afterSync).toString('latin1')).toBe('');
    } finally {
      link.close();
      link.cleanup();
    }
  });

  it('2.8 before 2.8.18: capa refused, PSYNC v1 (+FULLRESYNC, then +CONTINUE without a replication id)', async () => {
    const runid = 'a'.repeat(40);
    let fullSyncs = 0;
    const master = await scriptedMaster((argv, socket) => {
      const name = argv[0]?.toUpperCase();
      if (name === 'PING') socket.write('+PONG\r\n');
      else if (name === 'REPLCONF' && argv[1] === 'capa')
        socket.write('-ERR Unrecognized REPLCONF option: capa\r\n');
      else if (name === 'REPLCONF') socket.write('+OK\r\n');
      else if (name === 'PSYNC' && argv[1] === '?') {
        fullSyncs++;
        socket.write(`+FULLRESYNC ${runid} 1000\r\n\n$${RDB6.length}\r\n`);
        socket.write(RDB6);
        setTimeout(() => socket.write(Buffer.concat(STREAM)), 50);
        return true;
      } else if (name === 'PSYNC' && argv[1] === runid) {
        socket.write('+CONTINUE\r\n'); // v1: no replication id
        setTimeout(() => socket.write(encodeCommand(['SET', 'resumed', 'yes'])), 20);
        return true;
      } else unknown(socket, argv);
      return false;
    });
    const spoolDir = mkdtempSync(join(tmpdir(), 'ferry-old-'));
    const first = new ReplicaLink({ host: '127.0.0.1', port: master.port, spoolDir, ackIntervalMs: 100 });
    let resumeAt = 0;
    try {
      const start = await first.start();
      expect(start).toMatchObject({ mode: 'full', replid: runid, offset: 1000, diskless: false });
      for await (const _ of first.snapshot()) {
        // drain
      }
      const commands = first.commands();
      for (let i = 0; i < STREAM.length; i++) {
        const next = await commands.next();
        if (next.done) break;
        resumeAt = next.value.offset;
      }
      expect(resumeAt).toBe(1000 + Buffer.concat(STREAM).length);
      // PSYNC masters get ACKs with the offset reached
      await new Promise((r) => setTimeout(r, 250));
      expect(Buffer.concat(master.afterSync).toString('latin1')).toContain(
        `$${String(resumeAt).length}\r\n${resumeAt}\r\n`,
      );
    } finally {
      first.close();
      first.cleanup();
    }
    const again = new ReplicaLink({
      host: '127.0.0.1',
      port: master.port,
      spoolDir,
      resume: { replid: runid, offset: resumeAt },
    });
    try {
      const start = await again.start();
      // +CONTINUE without an id keeps the id we asked with
      expect(start).toEqual({ mode: 'continue', replid: runid, offset: resumeAt });
      const next = await again.commands().next();
      expect(next.value?.argv.map(String)).toEqual(['SET', 'resumed', 'yes']);
      expect(next.value?.offset).toBe(resumeAt + encodeCommand(['SET', 'resumed', 'yes']).length);
      expect(fullSyncs).toBe(1);
      expect(master.got).toContain(`PSYNC ${runid} ${resumeAt + 1}`);
      expect(master.got.filter((c) => c.startsWith('REPLCONF capa'))).toHaveLength(2);
    } finally {
      again.close();
      again.cleanup();
    }
  });
});
