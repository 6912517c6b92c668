/**
 * Stream commands of newer sources rewritten for a target that lacks them, the way the snapshot's
 * rewrite path carries their values: what the target can hold is written, what it cannot is said
 * once (a warning), never silently changed into something else.
 *
 * - Hash field TTLs (Redis 7.4+, Valkey 9.0+). The sources propagate HSETEX (with PXAT, KEEPTTL,
 *   or — Redis 8's HINCRBYFLOAT — `HSETEX key KEEPTTL FIELDS 1 f v` even on a hash without any
 *   TTL), HPEXPIREAT and HPERSIST; a field whose TTL runs out on the source comes as HDEL. For a
 *   target without HSETEX (Redis < 8.0, Valkey < 9.0): HSETEX → HSET, plus HPEXPIREAT of the same
 *   fields where the target keeps field TTLs (Redis 7.4); the TTL commands themselves go only to a
 *   target that keeps field TTLs. The conditions HSETEX may carry (NX, XX, FNX, FXX) are dropped:
 *   the source propagates only an HSETEX that it applied, so on a target that mirrors it they hold.
 * - Streams' idempotent producers (Redis 8.6): XADD with IDMP/IDMPAUTO. An entry the source added
 *   is propagated with its ID (the `*` replaced), which only a replica may send with IDMP (any other
 *   client is refused: "IDMP/IDMPAUTO can be used only with auto-generated IDs"): it is written as
 *   the XADD without them, then — where the target has it (Redis 8.6.2+) — XIDMPRECORD of the
 *   producer's id, as Redis's own AOF rewrite does. IDMPAUTO's id is a hash of the fields Ferry does
 *   not compute: not recorded, said. A retry the source recognised as a duplicate is propagated
 *   still with `*`: it added nothing, so nothing is written. XCFGSET (a stream's IDMP settings)
 *   goes only to a target that has it.
 */

import type { TargetWriter } from './target/writer.js';
import { compareVersions } from './versions.js';

export interface DowngradeTarget {
  /** The target has HSETEX (Redis 8.0+, Valkey 9.0+). */
  hsetex: boolean;
  /** The target keeps hash fields' own TTLs (Redis 7.4+, Valkey 9.0+). */
  fieldTtl: boolean;
  /** The target keeps streams' idempotent producers: XIDMPRECORD, XCFGSET (Redis 8.6.2+). */
  idmp: boolean;
}

export interface Downgraded {
  /** The commands to write instead (none: nothing to write). */
  argvs: Buffer[][];
  /** What the target could not be given, said once per shard. */
  warning?: string;
}

/** What `w` has of the commands above. */
export function downgradeTarget(w: Pick<TargetWriter, 'identity' | 'version' | 'fieldTtl'>): DowngradeTarget {
  const valkey = w.identity?.product === 'valkey';
  const at = (v: string): boolean => compareVersions(w.identity?.version ?? w.version, v) >= 0;
  return { hsetex: valkey ? at('9.0.0') : at('8.0.0'), fieldTtl: w.fieldTtl, idmp: !valkey && at('8.6.2') };
}

const TTL_ONLY = new Set(['hexpire', 'hpexpire', 'hexpireat', 'hpexpireat', 'hpersist', 'hgetex']);
const FIELD_TTLS_DROPPED =
  'hash field expirations need Redis 7.4 or Valkey 9.0 on the target: the fields were written without them (a field the source expires still goes, by the HDEL the source sends then)';
const b = (s: string): Buffer => Buffer.from(s);
const upper = (a: Buffer | undefined): string => (a ? a.toString('latin1').toUpperCase() : '');

/** The rewrite of `argv` (command `name`, lower case) for `t`; undefined when it goes as it is. */
export function downgradeCommand(name: string, argv: Buffer[], t: DowngradeTarget): Downgraded | undefined {
  if (name === 'xadd') return xaddWithoutIdmp(argv, t.idmp);
  if (name === 'xcfgset') return t.idmp ? undefined : { argvs: [], warning: IDMP_NOT_KEPT };
  if (t.hsetex) return undefined;
  if (TTL_ONLY.has(name))
    return t.fieldTtl && name !== 'hgetex' ? undefined : { argvs: [], warning: FIELD_TTLS_DROPPED };
  if (name === 'hsetex') return hsetAndTtl(argv, t.fieldTtl);
  if (name === 'hgetdel') {
    // HGETDEL key FIELDS n field…: what it changes is an HDEL of those fields
    const fields = fieldsAfter(argv, 2);
    return fields ? { argvs: [[b('HDEL'), argv[1] as Buffer, ...fields.list]] } : undefined;
  }
  return undefined;
}

/** `FIELDS n a b …` at or after `from`: the n items after it (×2 when `pairs`). */
function fieldsAfter(
  argv: Buffer[],
  from: number,
  pairs = false,
): { at: number; list: Buffer[] } | undefined {
  for (let i = from; i < argv.length; i++) {
    if (upper(argv[i]) !== 'FIELDS') continue;
    const n = Number(argv[i + 1]?.toString('latin1'));
    const list = argv.slice(i + 2, i + 2 + n * (pairs ? 2 : 1));
    if (!Number.isInteger(n) || n < 1 || list.length !== n * (pairs ? 2 : 1)) return undefined;
    return { at: i, list };
  }
  return undefined;
}

function hsetAndTtl(argv: Buffer[], fieldTtl: boolean): Downgraded | undefined {
  const key = argv[1];
  const fields = fieldsAfter(argv, 2, true);
  if (!key || !fields) return undefined; // not a form the source propagates: the target says what is wrong
  let pxat: Buffer | undefined;
  let keepTtl = false;
  for (let i = 2; i < fields.at; i++) {
    const o = upper(argv[i]);
    if (o === 'PXAT' || o === 'EXAT' || o === 'PX' || o === 'EX') {
      const v = argv[++i] as Buffer;
      // sources propagate PXAT; the others are turned into it for a target that keeps field TTLs
      const n = Number(v.toString('latin1'));
      const ms = o === 'PXAT' ? n : o === 'EXAT' ? n * 1000 : Date.now() + (o === 'EX' ? n * 1000 : n);
      pxat = b(String(ms));
    } else if (o === 'KEEPTTL') keepTtl = true;
  }
  const argvs: Buffer[][] = [[b('HSET'), key, ...fields.list]];
  if (pxat && fieldTtl) {
    const names = fields.list.filter((_, i) => i % 2 === 0);
    argvs.push([b('HPEXPIREAT'), key, pxat, b('FIELDS'), b(String(names.length)), ...names]);
    return { argvs };
  }
  if (pxat) return { argvs, warning: FIELD_TTLS_DROPPED };
  if (keepTtl && fieldTtl)
    return {
      argvs,
      warning:
        'HSETEX … KEEPTTL (how Redis 8 propagates HINCRBYFLOAT) was written as HSET, which the target has without KEEPTTL: a TTL the field had there is gone',
    };
  return { argvs };
}

const IDMP_NOT_KEPT =
  "a stream's idempotent-producer (IDMP) state needs Redis 8.6.2 on the target: entries were added without it, so a producer retrying an XADD with IDMP there may add that entry again";

function xaddWithoutIdmp(argv: Buffer[], record: boolean): Downgraded | undefined {
  // XADD key [NOMKSTREAM] [KEEPREF|DELREF|ACKED] [IDMPAUTO pid | IDMP pid iid] [trim…] id field value…
  let idmp = -1;
  let width = 0;
  for (let i = 2; i < argv.length; i++) {
    const o = upper(argv[i]);
    if (o === 'IDMPAUTO' || o === 'IDMP') {
      idmp = i;
      width = o === 'IDMP' ? 3 : 2;
      break;
    }
    if (o !== 'NOMKSTREAM' && o !== 'KEEPREF' && o !== 'DELREF' && o !== 'ACKED') break;
  }
  if (idmp < 0) return undefined;
  const rest = [...argv.slice(0, idmp), ...argv.slice(idmp + width)];
  // the ID: the first argument after the options that is not a trim option and its values
  let j = idmp;
  while (j < rest.length) {
    const o = upper(rest[j]);
    if (o === 'MAXLEN' || o === 'MINID')
      j += ['~', '='].includes(rest[j + 1]?.toString('latin1') ?? '') ? 3 : 2;
    else if (o === 'LIMIT') j += 2;
    else break;
  }
  const id = rest[j];
  if (!id) return undefined;
  if (id.toString('latin1') === '*') return { argvs: [] }; // a duplicate: nothing was added
  const key = argv[1] as Buffer;
  if (width === 3 && record)
    return { argvs: [rest, [b('XIDMPRECORD'), key, argv[idmp + 1] as Buffer, argv[idmp + 2] as Buffer, id]] };
  return {
    argvs: [rest],
    warning: record
      ? "an XADD with IDMPAUTO was written without it: its idempotency id (a hash of the entry's fields) is not recorded on the target, so a producer retrying it there may add that entry again"
      : IDMP_NOT_KEPT,
  };
}
