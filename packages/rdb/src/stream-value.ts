import { itemToBuffer, listpackItems } from './blobs.js';
import * as C from './constants.js';
import type { ByteSource } from './source.js';
import {
  decodeBlob,
  type StreamGroupInfo,
  type StreamId,
  streamId,
  type ValueChunk,
  type ValueGen,
  type ValueOptions,
  waitBigLen,
  waitBytes,
  waitLen,
} from './value-io.js';

/**
 * A stream value (RDB_TYPE_STREAM_LISTPACKS 1–5): its entries in bounded chunks, then its groups
 * (type 5, Redis 8.8: each with its NACK zone), then (types 4 and 5, Redis 8.6+) its
 * idempotent-producer state.
 */
export function* readStream(src: ByteSource, rdbType: number, o: ValueOptions): ValueGen {
  const decode = o.decode;
  const len = (): Generator<number, number, void> => waitLen(src);
  const bigLen = (): Generator<number, bigint, void> => waitBigLen(src);
  const bytes = (n: number): Generator<number, Buffer, void> => waitBytes(src, n);
  const id16 = (b: Buffer): StreamId => streamId(b.readBigUInt64BE(0), b.readBigUInt64BE(8));

  const listpacks = yield* len();
  let pending: Array<{ id: StreamId; fields: Buffer[] }> = [];
  let pendingBytes = 0;
  for (let i = 0; i < listpacks; i++) {
    const keyAt = src.offset;
    let master: Buffer | undefined;
    while ((master = src.tryString(false)) === undefined) yield src.short;
    if (master.length !== 16) src.fail(`stream node key of ${master.length} bytes, not 16`, keyAt);
    const lpAt = src.offset;
    let lp: Buffer | undefined;
    while ((lp = src.tryString(false)) === undefined) yield src.short;
    if (!decode) {
      if (lp.length < 7 || lp.readUInt32LE(0) !== lp.length || lp[lp.length - 1] !== 0xff) {
        src.fail('stream listpack header does not match its size', lpAt);
      }
      continue;
    }
    const items = decodeBlob(src, lpAt, 'stream listpack', lp, listpackItems);
    const masterMs = master.readBigUInt64BE(0);
    const masterSeq = master.readBigUInt64BE(8);
    const num = (k: number): bigint => {
      const v = items[k];
      if (v === undefined || Buffer.isBuffer(v))
        src.fail('stream listpack entry is not an integer where one is expected', lpAt);
      return BigInt(v);
    };
    // master entry: count, deleted, num-fields, fields…, 0
    if (items.length < 4) src.fail('stream listpack too short for its master entry', lpAt);
    const masterFields = Number(num(2));
    let k = 3 + masterFields;
    if (num(k) !== 0n) src.fail('stream master entry is not terminated by 0', lpAt);
    k++;
    const fieldsOfMaster = items.slice(3, 3 + masterFields).map(itemToBuffer);
    while (k < items.length) {
      const flags = Number(num(k));
      const ms = masterMs + num(k + 1);
      const seq = masterSeq + num(k + 2);
      k += 3;
      let fields: Buffer[];
      if (flags & 2) {
        // STREAM_ITEM_FLAG_SAMEFIELDS: values only
        fields = [];
        for (let f = 0; f < masterFields; f++) {
          const v = items[k + f];
          if (v === undefined) src.fail('stream entry runs past its listpack', lpAt);
          fields.push(fieldsOfMaster[f] as Buffer, itemToBuffer(v));
        }
        k += masterFields;
      } else {
        const n = Number(num(k));
        k++;
        if (k + 2 * n > items.length) src.fail('stream entry runs past its listpack', lpAt);
        fields = items.slice(k, k + 2 * n).map(itemToBuffer);
        k += 2 * n;
      }
      k++; // lp-count
      if (k > items.length) src.fail('stream entry runs past its listpack', lpAt);
      if (flags & 1) continue; // STREAM_ITEM_FLAG_DELETED
      pending.push({ id: streamId(ms, seq), fields });
      pendingBytes += fields.reduce((s, f) => s + f.length, 0);
      if (pending.length >= o.chunkElements || pendingBytes >= o.chunkBytes) {
        yield { type: 'stream-entries', entries: pending };
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (decode && pending.length > 0) yield { type: 'stream-entries', entries: pending };

  const length = Number(yield* bigLen());
  const lastMs = yield* bigLen();
  const lastSeq = yield* bigLen();
  const meta: Extract<ValueChunk, { type: 'stream-meta' }> = {
    type: 'stream-meta',
    length,
    lastId: streamId(lastMs, lastSeq),
  };
  if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_2) {
    meta.firstId = streamId(yield* bigLen(), yield* bigLen());
    meta.maxDeletedId = streamId(yield* bigLen(), yield* bigLen());
    meta.entriesAdded = Number(yield* bigLen());
  }
  if (decode) yield meta;

  const groups = yield* len();
  for (let g = 0; g < groups; g++) {
    let name: Buffer | undefined;
    while ((name = src.tryString(false)) === undefined) yield src.short;
    const group: StreamGroupInfo = { name, lastId: streamId(yield* bigLen(), yield* bigLen()) };
    if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_2) {
      const read = yield* bigLen();
      group.entriesRead = read === 0xffffffffffffffffn ? -1 : Number(read); // SCG_INVALID_ENTRIES_READ
    }
    if (decode) yield { type: 'stream-group', group };
    const pelSize = yield* len();
    let pel: Array<{ id: StreamId; deliveryTime: number; deliveryCount: number }> = [];
    for (let p = 0; p < pelSize; p++) {
      const id = id16(yield* bytes(16));
      const deliveryTime = Number((yield* bytes(8)).readBigInt64LE(0));
      const deliveryCount = yield* len();
      if (decode) {
        pel.push({ id, deliveryTime, deliveryCount });
        if (pel.length >= o.chunkElements) {
          yield { type: 'stream-pel', group: name, pending: pel };
          pel = [];
        }
      }
    }
    if (decode && pel.length > 0) yield { type: 'stream-pel', group: name, pending: pel };
    const consumers = yield* len();
    for (let c = 0; c < consumers; c++) {
      let cname: Buffer | undefined;
      while ((cname = src.tryString(false)) === undefined) yield src.short;
      const seenTime = Number((yield* bytes(8)).readBigInt64LE(0));
      let activeTime: number | undefined;
      if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_3) activeTime = Number((yield* bytes(8)).readBigInt64LE(0));
      const n = yield* len();
      let ids: StreamId[] = [];
      let sent = false;
      for (let p = 0; p < n; p++) {
        const id = id16(yield* bytes(16));
        if (decode) {
          ids.push(id);
          if (ids.length >= o.chunkElements) {
            yield {
              type: 'stream-consumer',
              group: name,
              name: cname,
              seenTime,
              ...(activeTime !== undefined ? { activeTime } : {}),
              pending: ids,
            };
            ids = [];
            sent = true;
          }
        }
      }
      if (decode && (ids.length > 0 || !sent)) {
        yield {
          type: 'stream-consumer',
          group: name,
          name: cname,
          seenTime,
          ...(activeTime !== undefined ? { activeTime } : {}),
          pending: ids,
        };
      }
    }
    if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_5) {
      // Redis 8.8: the group's NACK zone after its consumers — a count, then each id as 16 bytes
      // (as redis/librdb's parser reads type 27, ST_LOAD_NACK_ZONE_*)
      const count = yield* len();
      let ids: StreamId[] = [];
      for (let i = 0; i < count; i++) {
        const id = id16(yield* bytes(16));
        if (!decode) continue;
        ids.push(id);
        if (ids.length >= o.chunkElements) {
          yield { type: 'stream-nack', group: name, ids };
          ids = [];
        }
      }
      if (decode && ids.length > 0) yield { type: 'stream-nack', group: name, ids };
    }
  }
  if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_4) {
    // Redis 8.6 rdb.c (rdbSaveObject, rdbSaveStreamIdmpEntries): duration, max entries, the
    // producers (pid, count, then each idempotency id with its stream id as two lengths), then the
    // all-time counts of ids added and of duplicates
    const durationS = Number(yield* bigLen());
    const maxEntries = Number(yield* bigLen());
    const producers = yield* len();
    let chunk: Extract<ValueChunk, { type: 'stream-idmp' }> = {
      type: 'stream-idmp',
      durationS,
      maxEntries,
      producers: [],
    };
    let held = 0;
    for (let p = 0; p < producers; p++) {
      let pid: Buffer | undefined;
      while ((pid = src.tryString(false)) === undefined) yield src.short;
      const count = yield* len();
      let producer = { pid, entries: [] as Array<{ iid: Buffer; id: StreamId }> };
      if (decode) chunk.producers.push(producer);
      for (let i = 0; i < count; i++) {
        let iid: Buffer | undefined;
        while ((iid = src.tryString(false)) === undefined) yield src.short;
        const id = streamId(yield* bigLen(), yield* bigLen());
        if (!decode) continue;
        producer.entries.push({ iid, id });
        held++;
        if (held >= o.chunkElements) {
          yield chunk;
          chunk = { type: 'stream-idmp', durationS, maxEntries, producers: [] };
          producer = { pid, entries: [] };
          if (i + 1 < count) chunk.producers.push(producer);
          held = 0;
        }
      }
    }
    chunk.iidsAdded = Number(yield* bigLen());
    chunk.iidsDuplicates = Number(yield* bigLen());
    if (decode) yield chunk;
  }
}
