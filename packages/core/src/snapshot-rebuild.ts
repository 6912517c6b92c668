import type { KeyEntry } from '@ferry/rdb';
import type { Arg } from '@ferry/resp';
import type { DbRoute } from './keys.js';
import { Rewriter } from './rewrite.js';
import { keySlot, slotTag } from './slot.js';
import type { SnapshotHost } from './snapshot-host.js';
import { type ProxyKind, proxyRefuses } from './target/proxy.js';

/** Values rebuilt with commands, many keys a round trip (a standalone target). */
export interface RebuildGroup {
  db: number;
  cmds: Arg[][];
  /** Each key's temporary key, and where its rename's reply is. */
  keys: Array<{ key: Buffer; tmp: Buffer; at: number; replace: boolean }>;
  bytes: number;
}

/**
 * The rewrite path of a snapshot writer: values the target cannot take as RESTORE, rebuilt with
 * their type's commands in a temporary key renamed over the key (in place behind a proxy).
 */
export class ValueRebuilder {
  private readonly rewriter: Rewriter;

  constructor(
    private readonly h: SnapshotHost,
    /** The conflict policy's answer to a key the target already holds. */
    private readonly keyExists: (key: Buffer, cause?: unknown) => void,
  ) {
    const w = h.ctx.writer;
    this.rewriter = new Rewriter(
      {
        multiHset: w.atLeast('4.0.0'),
        streamMeta: w.atLeast('7.0.0'),
        createConsumer: w.atLeast('6.2.0'),
        fieldTtl: w.fieldTtl,
      },
      (m) => h.notices.warn(m),
    );
  }

  /**
   * Rebuilds a value with type-specific commands into a temporary key in the same slot, then
   * renames it over the key: a retry never duplicates elements, readers never see half a value.
   */
  async rewrite(
    route: DbRoute,
    slot: number | undefined,
    key: Buffer,
    e: KeyEntry,
    raw: Buffer | undefined,
    replace: boolean,
  ): Promise<void> {
    const { writer } = this.h.ctx;
    if (writer.proxy) {
      await this.rewriteInPlace(route, key, e, raw, replace);
      return;
    }
    const send = (cmds: Arg[][]): Promise<unknown> =>
      cmds.length ? writer.sendGroup(route.db, slot, cmds, false, { idempotent: true }) : Promise.resolve();
    let rebuilt: { tmp: Buffer; cmds: Arg[][] };
    if (raw !== undefined && e.captured) rebuilt = this.commands(slot, key, e, replace);
    else {
      // a value too big to hold: built in pieces as it is read, then renamed
      const tmp = this.tmpKey(slot, key);
      await send([['DEL', tmp]]);
      try {
        for await (const c of e.chunks()) await send(this.rewriter.commands(tmp, c));
      } finally {
        this.rewriter.endValue();
      }
      rebuilt = { tmp, cmds: this.renameCommands(tmp, key, e, replace) };
    }
    const replies = await writer.sendGroup(route.db, slot, rebuilt.cmds, false, { idempotent: true });
    if (!replace && replies[replies.length - 1] === 0) {
      await send([['DEL', rebuilt.tmp]]);
      this.keyExists(key);
    }
  }

  /** The temporary key a value is rebuilt in: in the key's slot, named per shard and key. */
  private tmpKey(slot: number | undefined, key: Buffer): Buffer {
    return Buffer.from(
      // named per shard: two shards' keys in one target slot never share one
      `${this.h.own.prefix}tmp:{${slotTag(slot ?? keySlot(key))}}:${this.h.ctx.taskId}:${this.h.ctx.shard.id}:${this.h.metrics.keys}`,
    );
  }

  private renameCommands(tmp: Buffer, key: Buffer, e: KeyEntry, replace: boolean): Arg[][] {
    const out: Arg[][] = [];
    if (e.expireAtMs !== undefined) out.push(['PEXPIREAT', tmp, e.expireAtMs]);
    out.push([replace ? 'RENAME' : 'RENAMENX', tmp, key]);
    return out;
  }

  /**
   * A value read whole, as the commands that rebuild it: the temporary key emptied first (so a
   * retry of them is exact), the value's commands, its expiry, the rename (last: its reply says
   * whether a RENAMENX found the key taken).
   */
  commands(
    slot: number | undefined,
    key: Buffer,
    e: KeyEntry,
    replace: boolean,
  ): { tmp: Buffer; cmds: Arg[][] } {
    const tmp = this.tmpKey(slot, key);
    const cmds: Arg[][] = [['DEL', tmp]];
    try {
      for (const c of e.decoded() ?? []) cmds.push(...this.rewriter.commands(tmp, c));
    } finally {
      this.rewriter.endValue();
    }
    cmds.push(...this.renameCommands(tmp, key, e, replace));
    return { tmp, cmds };
  }

  /** Values rebuilt together on a standalone target: one round trip for many keys. */
  async bulk(g: RebuildGroup): Promise<void> {
    const replies = await this.h.ctx.writer.sendGroup(g.db, undefined, g.cmds, false, { idempotent: true });
    for (const k of g.keys) {
      if (k.replace || replies[k.at] !== 0) continue;
      await this.h.ctx.writer.sendGroup(g.db, undefined, [['DEL', k.tmp]], false, { idempotent: true });
      this.keyExists(k.key);
    }
  }

  /**
   * The rewrite path behind a proxy, which has no RENAME: the key itself is emptied and rebuilt
   * (readers may see it partly written; a retry empties it again first). Values the proxy cannot
   * write (a stream through twemproxy) are reported and left out.
   */
  private async rewriteInPlace(
    route: DbRoute,
    key: Buffer,
    e: KeyEntry,
    raw: Buffer | undefined,
    replace: boolean,
  ): Promise<void> {
    const { writer } = this.h.ctx;
    const proxy = writer.proxy as ProxyKind;
    if (!replace && Number(await writer.send(route.db, undefined, ['EXISTS', key])) === 1) {
      this.keyExists(key);
      return;
    }
    const send = async (cmds: Arg[][]): Promise<boolean> => {
      for (const c of cmds) {
        const why = proxyRefuses(proxy, String(c[0]).toLowerCase(), [key]);
        if (why) {
          this.h.notices.warn(
            `key ${JSON.stringify(key.toString('latin1'))} (${e.type}) was not written: ${why}`,
            key,
            String(c[0]),
          );
          this.h.metrics.skippedKeys++;
          await writer.send(route.db, undefined, ['DEL', key], { idempotent: true });
          return false;
        }
      }
      if (cmds.length) await writer.sendGroup(route.db, undefined, cmds, false, { idempotent: true });
      return true;
    };
    await writer.send(route.db, undefined, ['DEL', key], { idempotent: true });
    const chunks = raw !== undefined && e.captured ? (e.decoded() ?? []) : undefined;
    try {
      if (chunks) {
        const cmds: Arg[][] = [];
        for (const c of chunks) cmds.push(...this.rewriter.commands(key, c));
        if (!(await send(cmds))) return;
      } else {
        for await (const c of e.chunks()) if (!(await send(this.rewriter.commands(key, c)))) return;
      }
    } finally {
      this.rewriter.endValue();
    }
    if (e.expireAtMs !== undefined) await send([['PEXPIREAT', key, e.expireAtMs]]);
  }
}
