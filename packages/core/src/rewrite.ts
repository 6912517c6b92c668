import type { ValueChunk } from '@ferry/rdb';
import type { Arg } from '@ferry/resp';

/** What the rewrite path needs to know about the target. */
export interface RewriteTarget {
  /** HSET with several pairs (4.0+); else HMSET. */
  multiHset: boolean;
  /** XSETID ENTRIESADDED/MAXDELETEDID and XGROUP … ENTRIESREAD (7.0+). */
  streamMeta: boolean;
  /** XGROUP CREATECONSUMER (6.2+). */
  createConsumer: boolean;
  /** HPEXPIREAT (7.4+). */
  fieldTtl: boolean;
}

/** A score as ZADD takes it, round-tripping exactly. */
function score(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '+inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  return String(n);
}

/**
 * Commands that add one decoded chunk to `key` (a temporary key, renamed when complete). Streams
 * come in order: entries, then meta, groups, PEL and consumers. Returns warnings for what the
 * target cannot represent.
 */
export class Rewriter {
  /** PEL of the stream being rewritten, per group (id → delivery info); bounded by the source's PEL. */
  private readonly pel = new Map<string, Map<string, { deliveryTime: number; deliveryCount: number }>>();

  constructor(
    private readonly t: RewriteTarget,
    private readonly warn: (message: string) => void,
  ) {}

  /** Forgets the PEL kept for the stream just written. */
  endValue(): void {
    this.pel.clear();
  }

  commands(key: Buffer, chunk: ValueChunk): Arg[][] {
    const { t, warn, pel } = this;
    switch (chunk.type) {
      case 'string':
        return chunk.offset === 0 ? [['SET', key, chunk.data]] : [['APPEND', key, chunk.data]];
      case 'list':
        return chunk.items.length ? [['RPUSH', key, ...chunk.items]] : [];
      case 'set':
        return chunk.items.length ? [['SADD', key, ...chunk.items]] : [];
      case 'zset': {
        if (!chunk.items.length) return [];
        const args: Arg[] = ['ZADD', key];
        for (const [m, s] of chunk.items) args.push(score(s), m);
        return [args];
      }
      case 'hash': {
        if (!chunk.items.length) return [];
        const args: Arg[] = [t.multiHset ? 'HSET' : 'HMSET', key];
        const ttls: Arg[][] = [];
        for (const [f, v, exp] of chunk.items) {
          args.push(f, v);
          if (exp > 0) {
            if (t.fieldTtl) ttls.push(['HPEXPIREAT', key, exp, 'FIELDS', 1, f]);
            else
              warn(
                'hash field expirations need Redis 7.4 or Valkey 9.0 on the target: the fields were written without them',
              );
          }
        }
        return [args, ...ttls];
      }
      case 'stream-entries':
        return chunk.entries.map((e) => ['XADD', key, e.id, ...e.fields]);
      case 'stream-meta': {
        const out: Arg[][] = [];
        // an empty stream exists only through an entry added and deleted
        if (chunk.length === 0) {
          out.push(['XADD', key, 'MAXLEN', '0', '0-1', 'x', '']);
        }
        const setid: Arg[] = [
          'XSETID',
          key,
          chunk.lastId === '0-0' && chunk.length === 0 ? '0-1' : chunk.lastId,
        ];
        if (t.streamMeta && chunk.entriesAdded !== undefined) {
          setid[2] = chunk.lastId;
          setid.push('ENTRIESADDED', chunk.entriesAdded);
          if (chunk.maxDeletedId !== undefined) setid.push('MAXDELETEDID', chunk.maxDeletedId);
        }
        out.push(setid);
        return out;
      }
      case 'stream-group': {
        const g = chunk.group;
        const args: Arg[] = ['XGROUP', 'CREATE', key, g.name, g.lastId];
        if (t.streamMeta && g.entriesRead !== undefined && g.entriesRead >= 0)
          args.push('ENTRIESREAD', g.entriesRead);
        return [args];
      }
      case 'stream-pel':
        // consumers come next with their pending ids; delivery time and count are set there
        pel.set(chunk.group.toString('latin1'), new Map(chunk.pending.map((p) => [p.id, p])));
        return [];
      case 'stream-consumer': {
        const out: Arg[][] = [];
        const pending = pel.get(chunk.group.toString('latin1'));
        for (const id of chunk.pending) {
          const p = pending?.get(id);
          out.push([
            'XCLAIM',
            key,
            chunk.group,
            chunk.name,
            '0',
            id,
            'TIME',
            p?.deliveryTime ?? 0,
            'RETRYCOUNT',
            p?.deliveryCount ?? 1,
            'FORCE',
            'JUSTID',
          ]);
        }
        if (chunk.pending.length === 0) {
          if (t.createConsumer) out.push(['XGROUP', 'CREATECONSUMER', key, chunk.group, chunk.name]);
          else warn('consumers without pending entries need Redis 6.2 on the target to be created');
        }
        return out;
      }
      case 'stream-idmp': {
        // Redis 8.6's idempotent-producer state has no command that writes it back
        const ids = chunk.producers.reduce((n, p) => n + p.entries.length, 0);
        if (ids > 0)
          warn(
            "a stream's idempotent-producer (IDMP) state cannot be rewritten with commands: its recorded idempotency ids were not carried, so a producer retrying an XADD with IDMP may add that entry again",
          );
        return [];
      }
      case 'stream-nack':
        // Redis 8.8's NACK zone: pending entries no consumer owns, which older servers cannot hold
        warn(
          `a stream group's entries given back with XNACK (${chunk.ids.length} in group ${JSON.stringify(chunk.group.toString('latin1'))}) cannot be pending without a consumer before Redis 8.8: they are not pending on the target, so no consumer is offered them again`,
        );
        return [];
      case 'array':
        throw new Error('an ARRAY can only be written with RESTORE, to Redis 8.8 or newer');
      case 'module':
        throw new Error(`module value ${chunk.name} can only be written with RESTORE`);
    }
  }
}
