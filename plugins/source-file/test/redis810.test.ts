/**
 * Redis 8.10's format (RDB 15): hashes encoded against templates of field names, built byte for
 * byte from redis/librdb's RDB 15 parser (src/lib/parser.c), since no 8.10 server runs here:
 * elementHashTemplate — RDB_OPCODE_HASH_TEMPLATE (242) registers a template as its id, its field
 * count and the names, strictly ascending by length then bytes; elementHashTmplArrayRef — type 32
 * is the template id then a value string per field; elementHashTmplLpRef — type 30 is one
 * listpack whose first entry is the template id and the rest the values in field order;
 * elementHashTmplSelfContained — types 29 and 31 carry their names (format 0: a listpack of names,
 * 1: a count and the names), then the values as type 30's listpack (29) or as strings (31).
 * Migrated into Debian's 7.0 as ordinary hashes (HSET): a REF form names a template of this file,
 * which no other server's RESTORE knows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RdbParser, rdbFileParser } from '@ferry/rdb';
import { type RedisServer, serverScope } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine } from './helpers.js';
import { len, rdbFile, str } from './rdb-bytes.js';

const servers = serverScope();
afterAll(() => servers.stop());

/** A listpack of small entries: integers 0–127 (7-bit uint) and strings under 64 bytes (6-bit str). */
function listpack(entries: Array<string | number>): Buffer {
  const body = Buffer.concat(
    entries.map((e) => {
      const enc =
        typeof e === 'number'
          ? Buffer.from([e])
          : Buffer.concat([Buffer.from([0x80 | Buffer.byteLength(e)]), Buffer.from(e)]);
      return Buffer.concat([enc, Buffer.from([enc.length])]); // each entry's back length
    }),
  );
  const head = Buffer.alloc(6);
  head.writeUInt32LE(6 + body.length + 1, 0);
  head.writeUInt16LE(entries.length, 4);
  return Buffer.concat([head, body, Buffer.from([0xff])]);
}
const blob = (b: Buffer): Buffer => Buffer.concat([len(b.length), b]);

const rdb15 = (dir: string, name: string, parts: Buffer[]): string => rdbFile(dir, name, 15, '8.10.0', parts);

const template = (id: number, fields: string[]): Buffer =>
  Buffer.concat([Buffer.from([242]), len(id), len(fields.length), ...fields.map(str)]);

describe("Redis 8.10's RDB 15 hash templates, built from their definitions", () => {
  let target: RedisServer;
  let dir: string;
  let file: string;
  const want: Record<string, Record<string, string>> = {
    'user:1': { age: '42', name: 'ann', email: 'ann@x.io' },
    'user:2': { age: '37', name: 'bob', email: 'bob@x.io' },
    pair: { a: '1', b: '2' },
    pair2: { x: 'one', yy: 'two' },
  };
  beforeAll(async () => {
    target = await servers.redis({ label: 'target' });
    dir = mkdtempSync(join(tmpdir(), 'ferry-rdb15-'));
    file = rdb15(dir, 'templates.rdb', [
      template(0, ['age', 'name', 'email']), // ascending: 3, 4, 5 bytes
      Buffer.from([32]),
      str('user:1'),
      len(0),
      str('42'),
      str('ann'),
      str('ann@x.io'),
      Buffer.from([30]),
      str('user:2'),
      blob(listpack([0, '37', 'bob', 'bob@x.io'])),
      Buffer.from([31]),
      str('pair'),
      len(1), // FIELDS_RAW
      len(2),
      str('a'),
      str('b'),
      str('1'),
      str('2'),
      Buffer.from([29]),
      str('pair2'),
      len(0), // FIELDS_LP
      blob(listpack(['x', 'yy'])),
      blob(listpack([7, 'one', 'two'])), // the id a self-contained value names is its source's
    ]);
  });

  it('reads every form as the hash it is', async () => {
    const parser = rdbFileParser(file) as RdbParser;
    const got: Record<string, Record<string, string>> = {};
    for await (const e of parser.entries()) {
      if (e.kind !== 'key') continue;
      expect(e.type).toBe('hash');
      const h: Record<string, string> = {};
      for await (const c of e.chunks())
        if (c.type === 'hash') for (const [f, v] of c.items) h[String(f)] = String(v);
      got[String(e.key)] = h;
    }
    expect(parser.version).toBe(15);
    expect(got).toEqual(want);
  });

  it('migrates them into Redis 7.0 as ordinary hashes, and calls it done', async () => {
    const task = engine().createTask({
      id: `r810${Date.now()}`,
      source: { topology: 'file', options: { files: [file] } },
      target: { endpoint: { host: target.host, port: target.port } },
    });
    await task.start();
    expect(task.doneCheck?.ok, task.doneCheck?.problem).toBe(true);
    for (const [key, fields] of Object.entries(want)) {
      const flat = (await target.command('HGETALL', key)) as string[];
      const h: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
      expect(h, key).toEqual(fields);
    }
    await target.command('FLUSHALL');
  });

  it('refuses a corrupt template or reference, naming it, before writing anything', async () => {
    await target.command('FLUSHALL');
    const cases: Array<[Buffer[], RegExp]> = [
      [[Buffer.from([32]), str('k'), len(3), str('v')], /names template 3, which the file did not register/],
      [[template(0, ['b', 'a'])], /hash template 0's field names are not in ascending order/],
      [[template(0, ['name', 'age'])], /not in ascending order/], // longer first: sdscmplen's order
      [[template(1, ['a']), template(1, ['b'])], /hash template 1 is registered twice/],
      [
        [template(0, ['a', 'b']), Buffer.from([30]), str('k'), blob(listpack([0, 'only']))],
        /1 values for 2 fields/,
      ],
      [[Buffer.from([33]), str('k'), len(0)], /unknown opcode or value type 33/],
      // and a newer format (Redis 8.12's) by name, at its header (the file is replaced below)
      [[], /RDB version 16: this Ferry reads RDB 1–15/],
    ];
    for (const [i, [parts, error]] of cases.entries()) {
      const bad = rdb15(dir, `bad-${i}.rdb`, parts);
      if (parts.length === 0) writeFileSync(bad, Buffer.from('REDIS0016\xff', 'latin1'));
      const task = engine().createTask({
        id: `r810bad${i}${Date.now()}`,
        source: { topology: 'file', options: { files: [bad] } },
        target: { endpoint: { host: target.host, port: target.port } },
      });
      await expect(task.start(), String(error)).rejects.toThrow(error);
      // nothing of the file's (Ferry's own epoch key stays: the next owner's epoch is higher)
      const keys = (await target.command('KEYS', '*')) as string[];
      expect(keys.filter((k) => !k.startsWith('__ferry:'))).toEqual([]);
    }
  });
});
