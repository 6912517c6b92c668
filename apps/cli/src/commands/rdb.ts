import { stat } from 'node:fs/promises';
import { isFerryError } from '@ferry/errors';
import { type KeyEntry, rdbFileParser, type ValueChunk } from '@ferry/rdb';
import { parseCommandArgs } from '../args.js';
import type { Io } from '../io.js';
import { bytesJson, scoreJson } from './json.js';

export const RDB_USAGE = `Usage: ferry rdb <file> [--json] [--summary]

  (default, or --json)  one JSON line per key: db, key, type, encoding, expireAt, value
                        (bytes that are valid UTF-8 as strings, others as {"base64": …})
  --summary             keys per db and type, and the biggest keys by elements and by bytes
                        (a table; with --json, one JSON object)
  --top N               how many biggest keys the summary lists (default 10)
`;

/** Writes one key as a JSON line, value chunk by chunk, so a big key is never held whole. */
async function writeKeyLine(e: KeyEntry, write: (s: string) => Promise<void>): Promise<void> {
  const meta = e.keyMeta ? `"keyMeta":[${e.keyMeta.map((m) => JSON.stringify(m)).join(',')}],` : '';
  // a module value is named by its module type, as TYPE names it on a server (one small chunk)
  let type: string = e.type;
  let moduleChunks: ValueChunk[] | undefined;
  if (e.type === 'module') {
    moduleChunks = [];
    for await (const c of e.chunks()) moduleChunks.push(c);
    const m = moduleChunks.find((c) => c.type === 'module');
    if (m) type = m.name;
  }
  const head = `{"db":${e.db},"key":${bytesJson(e.key)},"type":${JSON.stringify(type)},"encoding":"${e.encoding}","expireAt":${e.expireAtMs ?? null},${meta}"value":`;
  await write(head);
  let first = true;
  const sep = (): string => {
    const s = first ? '' : ',';
    first = false;
    return s;
  };
  // stream groups arrive in order, each followed by its PEL and consumers; they are written after the
  // entries (a PEL is held until its group is complete)
  const stream = {
    meta: '',
    groups: [] as Array<{ head: string; pending: string[]; consumers: string[]; nacked: string[] }>,
    idmp: undefined as
      | { head: string; producers: Map<string, { pid: Buffer; ids: string[] }>; tail: string }
      | undefined,
  };
  let opened = false;
  const open = async (s: string): Promise<void> => {
    if (!opened) await write(s);
    opened = true;
  };
  let stringParts: Buffer[] | undefined;
  for await (const c of moduleChunks ?? e.chunks()) {
    switch (c.type) {
      case 'string':
        if (!stringParts) stringParts = [];
        stringParts.push(c.data);
        break;
      case 'list':
      case 'set':
        await open('[');
        await write(c.items.map((b) => sep() + bytesJson(b)).join(''));
        break;
      case 'zset':
        await open('[');
        await write(c.items.map(([m, s]) => `${sep()}[${bytesJson(m)},${scoreJson(s)}]`).join(''));
        break;
      case 'hash':
        await open('[');
        await write(
          c.items
            .map(([f, v, ttl]) => `${sep()}[${bytesJson(f)},${bytesJson(v)}${ttl ? `,${ttl}` : ''}]`)
            .join(''),
        );
        break;
      case 'stream-entries':
        await open('{"entries":[');
        await write(
          c.entries
            .map((x) => `${sep()}{"id":"${x.id}","fields":[${x.fields.map(bytesJson).join(',')}]}`)
            .join(''),
        );
        break;
      case 'stream-meta':
        await open('{"entries":[');
        stream.meta = `"length":${c.length},"lastId":"${c.lastId}"${c.firstId ? `,"firstId":"${c.firstId}","maxDeletedId":"${c.maxDeletedId}","entriesAdded":${c.entriesAdded}` : ''}`;
        break;
      case 'stream-group':
        stream.groups.push({
          head: `{"name":${bytesJson(c.group.name)},"lastId":"${c.group.lastId}"${c.group.entriesRead !== undefined ? `,"entriesRead":${c.group.entriesRead}` : ''}`,
          pending: [],
          consumers: [],
          nacked: [],
        });
        break;
      case 'stream-nack':
        stream.groups.at(-1)?.nacked.push(...c.ids.map((id) => `"${id}"`));
        break;
      case 'array':
        // indexes as text: they go up to 2^64 - 2
        await open(`{${c.insertIndex !== undefined ? `"insertIndex":"${c.insertIndex}",` : ''}"elements":[`);
        await write(c.items.map(([i, v]) => `${sep()}["${i}",${bytesJson(v)}]`).join(''));
        break;
      case 'stream-pel':
        stream.groups
          .at(-1)
          ?.pending.push(
            ...c.pending.map(
              (p) => `{"id":"${p.id}","deliveryTime":${p.deliveryTime},"deliveryCount":${p.deliveryCount}}`,
            ),
          );
        break;
      case 'stream-consumer':
        stream.groups
          .at(-1)
          ?.consumers.push(
            `{"name":${bytesJson(c.name)},"seenTime":${c.seenTime}${c.activeTime !== undefined ? `,"activeTime":${c.activeTime}` : ''},"pending":[${c.pending.map((id) => `"${id}"`).join(',')}]}`,
          );
        break;
      case 'stream-idmp': {
        stream.idmp ??= {
          head: `"duration":${c.durationS},"maxEntries":${c.maxEntries}`,
          producers: new Map(),
          tail: '',
        };
        for (const p of c.producers) {
          const k = p.pid.toString('latin1');
          const got = stream.idmp.producers.get(k) ?? { pid: Buffer.from(p.pid), ids: [] };
          stream.idmp.producers.set(k, got);
          got.ids.push(...p.entries.map((x) => `{"iid":${bytesJson(x.iid)},"id":"${x.id}"}`));
        }
        if (c.iidsAdded !== undefined)
          stream.idmp.tail = `,"iidsAdded":${c.iidsAdded},"iidsDuplicates":${c.iidsDuplicates}`;
        break;
      }
      case 'module':
        await write(`{"module":"${c.name}","encver":${c.encver}}`);
        opened = true;
        break;
    }
  }
  if (stringParts) await write(bytesJson(Buffer.concat(stringParts)));
  else if (e.type === 'stream') {
    await open('{"entries":[');
    const groups = stream.groups.map(
      (g) =>
        `${g.head},"pending":[${g.pending.join(',')}],"consumers":[${g.consumers.join(',')}]${g.nacked.length ? `,"nacked":[${g.nacked.join(',')}]` : ''}}`,
    );
    const i = stream.idmp;
    const idmp = i
      ? `,"idmp":{${i.head},"producers":[${[...i.producers.values()].map((p) => `{"pid":${bytesJson(p.pid)},"ids":[${p.ids.join(',')}]}`).join(',')}]${i.tail}}`
      : '';
    await write(`],${stream.meta},"groups":[${groups.join(',')}]${idmp}}`);
  } else if (e.type === 'array') await write(']}');
  else if (e.type === 'hash' || e.type === 'list' || e.type === 'set' || e.type === 'zset') {
    await open('[');
    await write(']');
  } else if (!opened) await write('null');
  await write('}\n');
}

interface Summary {
  file: string;
  bytes: number;
  rdbVersion: number;
  aux: Record<string, string>;
  checksum: string;
  keys: number;
  expiring: number;
  emptySkipped: number;
  functions: number;
  dbs: Record<string, { keys: number; expiring: number; types: Record<string, number> }>;
  biggestByElements: Array<{ db: number; key: string; type: string; elements: number; bytes: number }>;
  biggestByBytes: Array<{ db: number; key: string; type: string; elements: number; bytes: number }>;
}

function elementsOf(c: ValueChunk): number {
  switch (c.type) {
    case 'list':
    case 'set':
    case 'zset':
    case 'hash':
      return c.items.length;
    case 'stream-entries':
      return c.entries.length;
    case 'array':
      return c.items.length;
    default:
      return 0;
  }
}

function printable(b: Buffer): string {
  const s = b.toString('utf8');
  return Buffer.byteLength(s) === b.length && !s.includes('\uFFFD') ? s : `base64:${b.toString('base64')}`;
}

function keepTop<T>(list: T[], item: T, n: number, by: (t: T) => number): void {
  list.push(item);
  list.sort((a, b) => by(b) - by(a));
  if (list.length > n) list.length = n;
}

function humanBytes(n: number): string {
  return n >= 1 << 30
    ? `${(n / (1 << 30)).toFixed(1)} GB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KB`
        : `${n} B`;
}

function renderSummary(s: Summary): string {
  const lines = [
    `${s.file}: ${humanBytes(s.bytes)}, RDB version ${s.rdbVersion}${s.aux['valkey-ver'] ? ` (written by Valkey ${s.aux['valkey-ver']})` : s.aux['redis-ver'] ? ` (written by Redis ${s.aux['redis-ver']})` : ''}, checksum ${s.checksum}`,
    `keys: ${s.keys} (${s.expiring} with a TTL${s.emptySkipped ? `, ${s.emptySkipped} empty ones a server would skip` : ''})${s.functions ? `; ${s.functions} function libraries` : ''}`,
  ];
  for (const [db, d] of Object.entries(s.dbs)) {
    const types = Object.entries(d.types)
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    lines.push(`  db ${db}: ${d.keys} keys (${d.expiring} with a TTL): ${types}`);
  }
  const table = (title: string, rows: Summary['biggestByBytes']): void => {
    if (rows.length === 0) return;
    lines.push(title);
    rows.forEach((r, i) => {
      lines.push(
        `  ${String(i + 1).padStart(2)}. db ${r.db} ${r.type.padEnd(6)} ${r.key.length > 60 ? `${r.key.slice(0, 60)}…` : r.key}  ${r.elements} elements, ${humanBytes(r.bytes)}`,
      );
    });
  };
  table('biggest keys by elements:', s.biggestByElements);
  table('biggest keys by serialized size:', s.biggestByBytes);
  return `${lines.join('\n')}\n`;
}

export async function rdbCommand(argv: string[], io: Io): Promise<number> {
  const args = parseCommandArgs(
    'rdb',
    argv,
    { json: { type: 'boolean' }, summary: { type: 'boolean' }, top: { type: 'string' } },
    RDB_USAGE,
    io,
    true,
  );
  if ('exit' in args) return args.exit;
  const { positionals } = args;
  const values = args.values as { json?: boolean; summary?: boolean; top?: string };
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) {
    io.err(`ferry rdb: give exactly one RDB file\n\n${RDB_USAGE}`);
    return 2;
  }
  const top = values.top === undefined ? 10 : Number(values.top);
  if (!Number.isInteger(top) || top < 0) {
    io.err(`ferry rdb: --top takes a whole number, not "${values.top}"\n`);
    return 2;
  }
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a file`), { code: 'EISDIR' });
    size = st.size;
  } catch (err) {
    io.err(`ferry rdb: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }

  const summary: Summary = {
    file,
    bytes: size,
    rdbVersion: 0,
    aux: {},
    checksum: 'unknown',
    keys: 0,
    expiring: 0,
    emptySkipped: 0,
    functions: 0,
    dbs: {},
    biggestByElements: [],
    biggestByBytes: [],
  };
  try {
    const parser = rdbFileParser(file);
    for await (const e of parser.entries()) {
      summary.rdbVersion = parser.version;
      if (e.kind === 'aux') summary.aux[e.key.toString('latin1')] = e.value.toString('latin1');
      else if (e.kind === 'function') summary.functions++;
      else if (e.kind === 'eof') summary.checksum = e.checksum;
      if (e.kind !== 'key') continue;
      if (!values.summary) {
        await writeKeyLine(e, io.write);
        continue;
      }
      let elements = e.type === 'string' ? 1 : 0;
      for await (const c of e.chunks()) elements += elementsOf(c);
      if (e.empty) {
        summary.emptySkipped++;
        continue;
      }
      summary.keys++;
      const db = summary.dbs[String(e.db)] ?? { keys: 0, expiring: 0, types: {} };
      summary.dbs[String(e.db)] = db;
      db.keys++;
      db.types[e.type] = (db.types[e.type] ?? 0) + 1;
      if (e.expireAtMs !== undefined) {
        db.expiring++;
        summary.expiring++;
      }
      const row = { db: e.db, key: printable(e.key), type: e.type, elements, bytes: e.valueBytes ?? 0 };
      keepTop(summary.biggestByElements, row, top, (r) => r.elements);
      keepTop(summary.biggestByBytes, row, top, (r) => r.bytes);
    }
  } catch (err) {
    const what = isFerryError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    io.err(`ferry rdb: ${file}: ${what}\n`);
    return 1;
  }
  if (values.summary) {
    if (values.json) io.out(`${JSON.stringify(summary)}\n`);
    else io.out(renderSummary(summary));
  }
  return 0;
}
