// A Valkey 9 primary, scripted after its replication.c (replicaRdbVersion: a replica announcing
// version 9.0 or newer gets the primary's own format, VALKEY080; one announcing nothing gets RDB 11,
// in which a hash with field TTLs cannot be written, so the primary aborts that sync). No Valkey 9
// build runs on this machine: this is the one kind of fake server these tests use. The payload is a
// real file written by Valkey 9.0.1 (the shared fixtures' valkey_hash2_with_hfe.rdb).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KeyEntry, RdbParser } from '@ferry/rdb';
import { afterEach, describe, expect, it } from 'vitest';
import { ANNOUNCED_VERSION, ReplicaLink } from '../src/index.js';
import { closeScriptedMasters, scriptedMaster } from './scripted-master.js';

const SHARED =
  process.env.FERRY_SHARED_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared');
const VALKEY080 = readFileSync(join(SHARED, 'fixtures/rdb/HDT3213__rdb/cases_valkey_hash2_with_hfe.rdb'));

afterEach(closeScriptedMasters);

/** A Valkey 9.0 primary holding a hash with field TTLs. */
async function valkey9(): Promise<{ port: number; got: string[] }> {
  let announced: string | undefined;
  return scriptedMaster((argv, socket) => {
    const name = argv[0]?.toUpperCase();
    if (name === 'PING') socket.write('+PONG\r\n');
    else if (name === 'REPLCONF') {
      if (argv[1]?.toLowerCase() === 'version') announced = argv[2];
      socket.write('+OK\r\n');
    } else if (name === 'PSYNC') {
      const [major] = (announced ?? '0').split('.').map(Number);
      if ((major ?? 0) < 9) {
        // RDB 11 has no type for a hash with field TTLs: the snapshot fails, the link drops
        socket.end('-ERR the snapshot cannot be written in RDB 11\r\n');
        return false;
      }
      socket.write(`+FULLRESYNC ${'c'.repeat(40)} 0\r\n$${VALKEY080.length}\r\n`);
      socket.write(VALKEY080);
      return true;
    } else socket.write(`-ERR unknown command '${name}'\r\n`);
    return false;
  });
}

describe('a Valkey 9 primary (scripted after its replication.c)', () => {
  it('is told the version Ferry reads, sends VALKEY080, and the hash arrives with its fields TTLs', async () => {
    const primary = await valkey9();
    const link = new ReplicaLink({
      host: '127.0.0.1',
      port: primary.port,
      spoolDir: mkdtempSync(join(tmpdir(), 'ferry-valkey9-')),
    });
    try {
      const start = await link.start();
      expect(start).toMatchObject({ mode: 'full', snapshotBytes: VALKEY080.length });
      expect(primary.got).toContain(`REPLCONF version ${ANNOUNCED_VERSION}`);
      const parser = new RdbParser(link.snapshot());
      const keys: KeyEntry[] = [];
      const fields: unknown[] = [];
      for await (const e of parser.entries())
        if (e.kind === 'key') {
          keys.push(e);
          for await (const c of e.chunks())
            if (c.type === 'hash') for (const [f, v, at] of c.items) fields.push([String(f), String(v), at]);
        }
      expect(parser.lineage).toBe('valkey');
      expect(parser.version).toBe(80);
      expect(keys.map((k) => [String(k.key), k.type])).toEqual([['hash2-hfe', 'hash']]);
      // Valkey 9.0 rdb.c, RDB_TYPE_HASH_2: field, value, then the expiry as an 8-byte ms time (-1: none)
      expect(fields).toEqual([
        ['F1', 'V1', 2715785640000],
        ['F2', 'V2', 2400425640000],
        ['F3', 'V3', 0],
      ]);
    } finally {
      link.close();
      link.cleanup();
    }
  });
});
