/**
 * What Ferry needs to know about each command that can appear in a replication stream: where its
 * keys are (to route, filter and rename them) and whether replaying it twice in a row is harmless.
 *
 * "Replay-safe" commands assign a value to part of a key (SET, HSET, SADD, DEL, PEXPIREAT…): a run
 * of them applied twice leaves what one application leaves. Everything else (INCR, LPUSH, XADD,
 * RENAME…) is applied together with its checkpoint, atomically, so a restart never repeats it.
 */

export interface CommandSpec {
  /** Index of the first key, 0 for none. */
  first: number;
  /** Index of the last key; negative counts from the end (-1: the last argument). */
  last: number;
  step: number;
  safe: boolean;
  /** Key positions that depend on the arguments. */
  keys?: (argv: Buffer[]) => number[];
  /** Conditional flags that make an otherwise safe command unsafe. */
  unsafeIf?: RegExp;
}

/** name: first,last,step,safe(s/u) */
const TABLE = `
set 1 1 1 s NX|XX|GET|IFEQ
setex 1 1 1 s
psetex 1 1 1 s
setnx 1 1 1 u
getset 1 1 1 s
getdel 1 1 1 s
getex 1 1 1 u
mset 1 -1 2 s
msetnx 1 -1 2 u
append 1 1 1 u
incr 1 1 1 u
decr 1 1 1 u
incrby 1 1 1 u
decrby 1 1 1 u
incrbyfloat 1 1 1 u
setrange 1 1 1 s
setbit 1 1 1 s
bitfield 1 1 1 u
bitop 2 -1 1 u
pfadd 1 1 1 s
pfmerge 1 -1 1 u
pfcount 1 -1 1 s
lpush 1 1 1 u
rpush 1 1 1 u
lpushx 1 1 1 u
rpushx 1 1 1 u
linsert 1 1 1 u
lpop 1 1 1 u
rpop 1 1 1 u
lset 1 1 1 u
lrem 1 1 1 u
ltrim 1 1 1 u
rpoplpush 1 2 1 u
lmove 1 2 1 u
blmove 1 2 1 u
brpoplpush 1 2 1 u
sadd 1 1 1 s
srem 1 1 1 s
spop 1 1 1 u
smove 1 2 1 u
sinterstore 1 -1 1 u
sunionstore 1 -1 1 u
sdiffstore 1 -1 1 u
zadd 1 1 1 s NX|XX|GT|LT|INCR
zincrby 1 1 1 u
zrem 1 1 1 s
zremrangebyscore 1 1 1 s
zremrangebylex 1 1 1 s
zremrangebyrank 1 1 1 u
zpopmin 1 1 1 u
zpopmax 1 1 1 u
zrangestore 1 2 1 u
geoadd 1 1 1 s NX|XX
geosearchstore 1 2 1 u
hset 1 1 1 s
hmset 1 1 1 s
hsetnx 1 1 1 u
hdel 1 1 1 s
hincrby 1 1 1 u
hincrbyfloat 1 1 1 u
hpexpireat 1 1 1 s
hexpireat 1 1 1 s
hpexpire 1 1 1 u
hexpire 1 1 1 u
hpersist 1 1 1 s
hsetex 1 1 1 u
hgetdel 1 1 1 s
hgetex 1 1 1 u
xadd 1 1 1 u
xdel 1 1 1 s
xtrim 1 1 1 u
xack 1 1 1 s
xclaim 1 1 1 u
xautoclaim 1 1 1 u
xsetid 1 1 1 s
xidmprecord 1 1 1 s
xcfgset 1 1 1 s
xgroup 2 2 1 u
del 1 -1 1 s
unlink 1 -1 1 s
expire 1 1 1 u
pexpire 1 1 1 u
expireat 1 1 1 s
pexpireat 1 1 1 s
persist 1 1 1 s
rename 1 2 1 u
renamenx 1 2 1 u
move 1 1 1 u
copy 1 2 1 u
restore 1 1 1 s
restore-asking 1 1 1 s
sort 1 1 1 u
georadius 1 1 1 u
georadiusbymember 1 1 1 u
eval 0 0 0 u
evalsha 0 0 0 u
eval_ro 0 0 0 u
evalsha_ro 0 0 0 u
fcall 0 0 0 u
fcall_ro 0 0 0 u
zunionstore 0 0 0 u
zinterstore 0 0 0 u
zdiffstore 0 0 0 u
lmpop 0 0 0 u
zmpop 0 0 0 u
flushdb 0 0 0 s
flushall 0 0 0 s
swapdb 0 0 0 u
script 0 0 0 s
function 0 0 0 u
publish 0 0 0 s
spublish 1 1 1 s
`;

const lower = (b: Buffer): string => b.toString('latin1').toLowerCase();

function numkeysAt(at: number, firstKey: number, extra: number[] = []): (argv: Buffer[]) => number[] {
  return (argv) => {
    const n = Number(argv[at]?.toString('latin1'));
    const out = [...extra];
    if (Number.isInteger(n) && n > 0)
      for (let i = 0; i < n && firstKey + i < argv.length; i++) out.push(firstKey + i);
    return out;
  };
}

/** STORE / STOREDIST dest after the source key (SORT, GEORADIUS*). */
function storeOption(argv: Buffer[]): number[] {
  const out = [1];
  for (let i = 2; i < argv.length - 1; i++) {
    const a = lower(argv[i] as Buffer);
    if (a === 'store' || a === 'storedist') out.push(i + 1);
  }
  return out;
}

const MOVABLE: Record<string, (argv: Buffer[]) => number[]> = {
  eval: numkeysAt(2, 3),
  evalsha: numkeysAt(2, 3),
  eval_ro: numkeysAt(2, 3),
  evalsha_ro: numkeysAt(2, 3),
  fcall: numkeysAt(2, 3),
  fcall_ro: numkeysAt(2, 3),
  zunionstore: numkeysAt(2, 3, [1]),
  zinterstore: numkeysAt(2, 3, [1]),
  zdiffstore: numkeysAt(2, 3, [1]),
  lmpop: numkeysAt(1, 2),
  zmpop: numkeysAt(1, 2),
  sort: storeOption,
  georadius: storeOption,
  georadiusbymember: storeOption,
};

export const COMMANDS: ReadonlyMap<string, CommandSpec> = (() => {
  const m = new Map<string, CommandSpec>();
  for (const line of TABLE.trim().split('\n')) {
    const [name, first, last, step, safe, flags] = line.split(' ') as [
      string,
      string,
      string,
      string,
      string,
      string?,
    ];
    const spec: CommandSpec = {
      first: Number(first),
      last: Number(last),
      step: Number(step),
      safe: safe === 's',
    };
    const movable = MOVABLE[name];
    if (movable) spec.keys = movable;
    if (flags) spec.unsafeIf = new RegExp(`^(${flags})$`, 'i');
    m.set(name, spec);
  }
  return m;
})();

/** Positions of the keys in `argv` (empty for keyless commands); undefined for an unknown command. */
export function keyPositions(spec: CommandSpec, argv: Buffer[]): number[] {
  if (spec.keys) return spec.keys(argv);
  if (spec.first === 0) return [];
  const last = spec.last < 0 ? argv.length + spec.last : spec.last;
  const out: number[] = [];
  for (let i = spec.first; i <= last && i < argv.length; i += spec.step) out.push(i);
  return out;
}

/** Whether replaying this very command twice in a row is harmless (see the file's comment). */
export function replaySafe(spec: CommandSpec, argv: Buffer[]): boolean {
  if (!spec.safe) return false;
  const flags = spec.unsafeIf;
  if (flags) {
    for (let i = 2; i < argv.length; i++) {
      const a = argv[i] as Buffer;
      if (a.length <= 7 && flags.test(a.toString('latin1'))) return false; // flags are short words
    }
  }
  return true;
}

export function commandName(argv: Buffer[]): string {
  return argv[0] ? lower(argv[0]) : '';
}

/** The command that tells a value's length (elements, or bytes of a string), by TYPE's answer. */
export const LENGTH_COMMAND: Readonly<Record<string, string>> = {
  string: 'STRLEN',
  list: 'LLEN',
  set: 'SCARD',
  zset: 'ZCARD',
  hash: 'HLEN',
  stream: 'XLEN',
};
