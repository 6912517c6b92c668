import type { StreamCommand } from '@ferry/replication';
import type { Arg, WireCommand } from '@ferry/resp';
import { COMMANDS, commandName, keyPositions, replaySafe } from './commands.js';
import { type DowngradeTarget, downgradeCommand } from './downgrade.js';
import type { ShardMetrics } from './events.js';
import type { OwnKeys } from './ferry-keys.js';
import type { DbRoute } from './keys.js';
import type { ShardContext } from './shard-context.js';
import { keySlot } from './slot.js';
import { proxyName, proxyRefuses } from './target/proxy.js';
import { describeCommand, type TargetWriter } from './target/writer.js';

/** The target as the stream writes to it (an in-memory one in unit tests). */
export type StreamWriter = Pick<
  TargetWriter,
  'cluster' | 'proxy' | 'maxKeyBytes' | 'sendGroup' | 'broadcast'
>;

/** What a batch of the stream needs of its shard: the route of keys, checkpoints, warnings. */
export interface StreamHost {
  readonly context: Pick<ShardContext, 'mapper' | 'options' | 'moved' | 'shard' | 'targetFlush'> & {
    writer: StreamWriter;
  };
  /** Source db the stream has selected so far. */
  sourceDb: number;
  readonly own: OwnKeys;
  readonly metrics: Pick<ShardMetrics, 'migratedAway'>;
  /** The source key Ferry's heartbeat is written to, and what to do with a value of it. */
  readonly heartbeatKey: Buffer;
  heartbeat(value: Buffer): void;
  /** Whether keys are checked against the shard's slots (see SlotOwners). */
  readonly tracksOwners: boolean;
  checkOwner(key: Buffer): void;
  noteDb(db: number): void;
  /** Whether the target's checkpoint of `domain` says `offset` is applied already. */
  alreadyApplied(domain: number, offset: number): boolean;
  /** The command that records `offset` as applied in `domain` (in a transaction's MULTI/EXEC). */
  domainCheckpointCommand(domain: number, offset: number): Arg[];
  warn(message: string, key?: Buffer, command?: string): void;
  unsupported(message: string, key: Buffer | undefined, command: string): void;
  /** What the target has of newer commands; the others are rewritten for it (see downgrade.ts). */
  readonly downgrade?: DowngradeTarget;
}

interface Group {
  /** Target db the group starts in, and the one its SELECTs leave it in (standalone). */
  db: number;
  endDb: number;
  slot: number | undefined;
  cmds: WireCommand[];
  unsafe: boolean;
  lastOffset: number;
}

/**
 * Commands of the stream on their way to the target. A standalone target gets one group (SELECTs
 * inside); a cluster target one group per slot. A group holding a command that is not replay-safe
 * is sent in MULTI/EXEC with its checkpoint key, so after a crash the target itself says whether it
 * was applied.
 */
/** Whether an argument (a key or not) lies under the reserved prefix: a byte compare each, no lookup. */
function mentionsOwn(own: OwnKeys, argv: Buffer[]): boolean {
  for (let i = 1; i < argv.length; i++) if (own.is(argv[i] as Buffer)) return true;
  return false;
}

export class StreamBatch {
  private readonly groups = new Map<number, Group>();
  private readonly order: Array<Group | { broadcast: Arg[]; db: number }> = [];
  /** Source transaction being collected (MULTI seen, EXEC not yet). */
  private tx: StreamCommand[] | undefined;
  size = 0;
  lastOffset = 0;

  constructor(private readonly shard: StreamHost) {}

  get empty(): boolean {
    return this.size === 0 && this.lastOffset === 0;
  }

  get inTransaction(): boolean {
    return this.tx !== undefined;
  }

  add(cmd: StreamCommand): void {
    this.lastOffset = cmd.offset;
    const name = commandName(cmd.argv);
    if (this.tx) {
      if (name === 'exec') {
        const tx = this.tx;
        this.tx = undefined;
        this.addTransaction(tx);
      } else if (name === 'discard') this.tx = undefined;
      else this.tx.push(cmd);
      return;
    }
    if (name === 'multi') {
      this.tx = [];
      return;
    }
    this.addOne(cmd, undefined);
  }

  /** A source transaction: kept atomic when its keys share a slot (always on a standalone target). */
  private addTransaction(cmds: StreamCommand[]): void {
    const { writer, mapper } = this.shard.context;
    if (!writer.cluster) {
      for (const c of cmds) this.addOne(c, undefined);
      return;
    }
    // the slots of the keys' names on the target (a prefix or a transform moves a key's slot)
    const db = this.shard.sourceDb;
    const route = mapper.route(db);
    const slots = new Set<number>();
    for (const c of cmds)
      for (const k of this.keysOf(c.argv)) slots.add(keySlot(route ? mapper.name(k, db, route.prefix) : k));
    if (slots.size > 1) {
      this.shard.warn(
        `a source transaction (MULTI/EXEC) spans ${slots.size} slots of the target cluster: its commands were applied one by one, not atomically`,
        undefined,
        'MULTI',
      );
    }
    for (const c of cmds) this.addOne(c, slots.size === 1 ? [...slots][0] : undefined);
  }

  private keysOf(argv: Buffer[]): Buffer[] {
    const spec = COMMANDS.get(commandName(argv));
    return spec ? keyPositions(spec, argv).map((i) => argv[i] as Buffer) : [];
  }

  private group(db: number, slot: number | undefined): Group {
    const { writer } = this.shard.context;
    const id = writer.cluster ? (slot ?? -1) : 0;
    let g = this.groups.get(id);
    if (!g) {
      g = { db, endDb: db, slot, cmds: [], unsafe: false, lastOffset: 0 };
      this.groups.set(id, g);
      this.order.push(g);
    }
    return g;
  }

  private push(db: number, slot: number | undefined, argv: WireCommand, safe: boolean, offset: number): void {
    const { writer } = this.shard.context;
    const domain = writer.cluster ? (slot ?? 0) : 0;
    if (this.shard.alreadyApplied(domain, offset)) return;
    this.shard.noteDb(db);
    const g = this.group(db, slot);
    if (!writer.cluster && db !== g.endDb) {
      g.cmds.push(['SELECT', db]);
      g.endDb = db;
    }
    g.cmds.push(argv);
    if (!safe) g.unsafe = true;
    g.lastOffset = offset;
    this.size++;
  }

  private addOne(cmd: StreamCommand, txSlot: number | undefined): void {
    let { argv } = cmd;
    const { offset } = cmd;
    const sh = this.shard;
    const { mapper, writer, options } = sh.context;
    let name = commandName(argv);
    if (name === 'ping' || name === 'replconf') return;
    if (name === 'select') {
      sh.sourceDb = Number(argv[1]?.toString());
      return;
    }
    const srcDb = sh.sourceDb;
    // the heartbeat Ferry writes on the source comes back here, whatever the db map says
    if (options.sourceHeartbeat && name === 'set' && argv[1]?.equals(sh.heartbeatKey)) {
      if (argv[2]) sh.heartbeat(argv[2]);
      return;
    }
    if (name === 'restore-asking' || name === 'del' || name === 'unlink') {
      const m = this.migration(name, argv, srcDb);
      if (!m) return;
      if (m !== argv) {
        argv = m;
        name = commandName(argv);
      }
    }
    const route = mapper.route(srcDb);
    if (!route) return;
    // the source command's keys, looked up once for the two checks that read them (neither runs for
    // a one-shard task into a plain target: no lookup there)
    const owners = sh.tracksOwners;
    const known = owners || writer.proxy ? COMMANDS.get(name) : undefined;
    const srcKeys = known ? keyPositions(known, argv).map((i) => argv[i] as Buffer) : [];
    // a write outside this shard's slots (straight to a Codis server, say): noted before it is queued
    if (owners) for (const k of srcKeys) sh.checkOwner(k);
    if (writer.proxy) {
      const why = proxyRefuses(
        writer.proxy,
        name,
        srcKeys.map((k) => mapper.name(k, srcDb, route.prefix)),
        writer.maxKeyBytes,
      );
      if (why) {
        sh.unsupported(`${describeCommand(argv)} was not applied: ${why}`, srcKeys[0], name.toUpperCase());
        return;
      }
      const as = proxyName(writer.proxy, name);
      if (as !== name) {
        argv = [Buffer.from(as), ...argv.slice(1)];
        name = commandName(argv);
      }
    }
    if (sh.downgrade) {
      const d = downgradeCommand(name, argv, sh.downgrade);
      if (d) {
        if (d.warning) sh.warn(d.warning, argv[1], name.toUpperCase());
        for (const a of d.argvs) this.addOne({ argv: a, offset }, txSlot);
        return;
      }
    }
    const spec = COMMANDS.get(name);
    // the common case: keys unchanged, one target node; the command goes as it came (unless an
    // argument may be a key under the reserved prefix: the full route below decides)
    if (
      spec &&
      spec.first !== 0 &&
      !writer.cluster &&
      !writer.proxy &&
      !route.prefix &&
      !mapper.filter &&
      !options.sourceHeartbeat &&
      !mentionsOwn(sh.own, argv)
    ) {
      this.push(
        route.db,
        undefined,
        argv === cmd.argv ? (cmd.raw ?? argv) : argv,
        replaySafe(spec, argv),
        offset,
      );
      return;
    }
    if (!spec) {
      if (!writer.cluster && !mapper.renames && !mapper.filter) {
        this.push(route.db, undefined, argv, false, offset);
        return;
      }
      sh.warn(
        `command ${name.toUpperCase()} is not known to Ferry and was not applied`,
        argv[1],
        name.toUpperCase(),
      );
      return;
    }
    const positions = keyPositions(spec, argv);
    const out: Arg[] = argv.slice();
    const keys: Buffer[] = [];
    for (const i of positions) {
      const k = argv[i] as Buffer;
      if (options.sourceHeartbeat && k.equals(sh.heartbeatKey)) {
        if (name === 'set' && argv[2]) sh.heartbeat(argv[2]);
        return;
      }
      if (sh.own.is(k)) {
        // the snapshot skips these too: a key under the reserved prefix is Ferry's, not the user's
        sh.warn(
          `${name.toUpperCase()} on a key under the reserved prefix "${sh.own.prefix}" was not applied (the key is taken for Ferry's own): choose another prefix with --reserved-prefix`,
          k,
          name.toUpperCase(),
        );
        return;
      }
      keys.push(k);
      out[i] = mapper.name(k, srcDb, route.prefix);
    }
    if (mapper.filter && keys.length > 0) {
      const pass = keys.filter((k) => (mapper.filter as NonNullable<typeof mapper.filter>)(k, srcDb));
      if (pass.length === 0) return;
      if (pass.length < keys.length) {
        sh.warn(
          `${name.toUpperCase()} touches keys inside and outside the filter: applied as is`,
          keys[0],
          name.toUpperCase(),
        );
      }
    }
    const safe = replaySafe(spec, argv);
    if (positions.length === 0) {
      this.keyless(name, out, route, srcDb, safe, offset);
      return;
    }
    if (!writer.cluster) {
      this.push(route.db, undefined, out, safe, offset);
      return;
    }
    const slots = positions.map((i) => keySlot(out[i] as Buffer));
    const first = slots[0] as number;
    if (slots.every((s) => s === first)) {
      this.push(0, txSlot ?? first, out, safe, offset);
      return;
    }
    // keys in several slots: commands that are a list of independent keys split cleanly
    if (name === 'del' || name === 'unlink' || name === 'mset' || name === 'pfcount') {
      const per = new Map<number, Arg[]>();
      const stride = name === 'mset' ? 2 : 1;
      for (let j = 0; j < positions.length; j++) {
        const s = slots[j] as number;
        let part = per.get(s);
        if (!part) {
          part = [out[0] as Arg];
          per.set(s, part);
        }
        const at = positions[j] as number;
        for (let x = 0; x < stride; x++) part.push(out[at + x] as Arg);
      }
      for (const [s, part] of per) this.push(0, s, part, safe, offset);
      return;
    }
    sh.warn(
      `${describeCommand(argv)} spans several slots of the target cluster and cannot be applied there (CROSSSLOT); the keys involved may differ until they are written again`,
      argv[1],
      name.toUpperCase(),
    );
  }

  /**
   * A source cluster's slot migration, as it shows in the streams: `RESTORE-ASKING` (the importing
   * shard) becomes `RESTORE … REPLACE` (the target holds the key already, from the other shard) and
   * registers the key; the exporting shard's `DEL` of it is dropped (see MovedKeys). Returns the
   * command to apply, or undefined when nothing is left of it.
   */
  private migration(name: string, argv: Buffer[], db: number): Buffer[] | undefined {
    const sh = this.shard;
    const { moved, shard } = sh.context;
    if (name === 'restore-asking') {
      const key = argv[1];
      if (key) {
        moved.restored(db, key, shard.id);
        moved.unsettledSlots.add(keySlot(key)); // its slot is moving to this shard: not a stray key
      }
      const out: Buffer[] = [Buffer.from('RESTORE'), ...argv.slice(1)];
      if (!argv.slice(4).some((a) => a.length === 7 && a.toString('latin1').toLowerCase() === 'replace'))
        out.push(Buffer.from('REPLACE'));
      return out;
    }
    let kept: Buffer[] | undefined;
    for (let i = 1; i < argv.length; i++) {
      const key = argv[i] as Buffer;
      if (moved.migratedAway(db, key, shard.id)) {
        kept ??= argv.slice(0, i);
        sh.metrics.migratedAway = (sh.metrics.migratedAway ?? 0) + 1;
      } else kept?.push(key);
    }
    if (!kept) return argv;
    return kept.length > 1 ? kept : undefined;
  }

  private keyless(
    name: string,
    argv: Arg[],
    route: DbRoute,
    srcDb: number,
    safe: boolean,
    offset: number,
  ): void {
    const sh = this.shard;
    const { writer, mapper } = sh.context;
    if (name === 'flushdb' || name === 'flushall') {
      // FLUSHDB cannot be applied where other source dbs share the target db. FLUSHALL empties every
      // source db, so sharing does not matter (into a cluster all dbs map to db 0); only a prefix map
      // can mean the target db holds keys of other sources, which it must not wipe.
      if (name === 'flushall' ? mapper.renames : mapper.sharesTargetDb(srcDb)) {
        sh.warn(
          `${name.toUpperCase()} on the source was not applied: source db ${srcDb} shares its target db with others`,
          undefined,
          name.toUpperCase(),
        );
        return;
      }
    }
    if (name === 'flushall' || (name === 'flushdb' && route.db === 0)) this.flushes = true;
    if (name === 'swapdb' || name === 'move') {
      sh.warn(
        `${name.toUpperCase()} was not applied: it moves keys between dbs, which the db map does not allow`,
        undefined,
        name.toUpperCase(),
      );
      return;
    }
    if (!writer.cluster) {
      this.push(route.db, undefined, argv, safe, offset);
      return;
    }
    if (name === 'publish') {
      this.push(0, 0, argv, true, offset);
      return;
    }
    this.order.push({ broadcast: argv, db: 0 });
    // what follows goes in new groups, sent after it: "SET a 1, FLUSHALL, SET a 2" in one batch
    // would otherwise send both SETs (one group per slot) before the FLUSHALL and lose a
    this.groups.clear();
    this.size++;
  }

  /** The batch empties the target's db 0 (where the task's lease lives). */
  private flushes = false;

  /** Sends every group (in order); resolves when the target acknowledged all of them. */
  async send(): Promise<void> {
    const flush = this.flushes ? this.shard.context.targetFlush : undefined;
    if (!flush) return this.sendGroups();
    flush.begin();
    try {
      await this.sendGroups();
    } finally {
      await flush.end();
    }
  }

  private async sendGroups(): Promise<void> {
    const sh = this.shard;
    const { writer } = sh.context;
    const sends: Array<Promise<unknown>> = [];
    for (const item of this.order) {
      if ('broadcast' in item) {
        await Promise.all(sends);
        await writer.broadcast(item.db, item.broadcast);
        continue;
      }
      const g = item;
      if (g.cmds.length === 0) continue;
      if (g.unsafe) {
        const domain = writer.cluster ? (g.slot ?? 0) : 0;
        const cmds = g.cmds;
        // the checkpoint key lives in db 0
        if (!writer.cluster && g.endDb !== 0) {
          cmds.push(['SELECT', 0]);
          g.endDb = 0;
        }
        cmds.push(sh.domainCheckpointCommand(domain, g.lastOffset));
        sends.push(writer.sendGroup(g.db, g.slot, cmds, true, {}, g.endDb));
      } else {
        sends.push(writer.sendGroup(g.db, g.slot, g.cmds, false, {}, g.endDb));
      }
    }
    await Promise.all(sends);
  }
}
