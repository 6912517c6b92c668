import type { TransformPlugin } from '@ferry/plugin-sdk';
import { globToRegExp } from './glob.js';
import type { DbMap, DbTarget, KeyFilterSpec, KeyPattern } from './options.js';

type Matcher = (key: Buffer) => boolean;

function matcher(p: KeyPattern): Matcher {
  if ('prefix' in p) {
    const prefix = Buffer.from(p.prefix, 'utf8');
    return (k) => k.length >= prefix.length && k.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
  }
  if ('glob' in p) {
    const re = globToRegExp(p.glob);
    return (k) => re.test(k.toString('latin1'));
  }
  const re = new RegExp(p.regex, 'u');
  return (k) => re.test(k.toString('utf8'));
}

/** undefined when everything passes (the common case costs nothing). */
export function keyFilter(spec: KeyFilterSpec): Matcher | undefined {
  const inc = (spec.include ?? []).map(matcher);
  const exc = (spec.exclude ?? []).map(matcher);
  if (inc.length === 0 && exc.length === 0) return undefined;
  return (k) => (inc.length === 0 || inc.some((m) => m(k))) && !exc.some((m) => m(k));
}

/** A source db's destination, with its full key prefix as bytes; undefined: the db is not migrated. */
export interface DbRoute {
  db: number;
  prefix: Buffer | undefined;
}

/** Where a source db goes under a db map (`*` for the dbs it does not list); undefined: nowhere. */
export function dbTargetOf(dbMap: DbMap | undefined, db: number): DbTarget | undefined {
  return dbMap ? (dbMap[db] ?? dbMap['*']) : { db };
}

/** The task's transforms as one: applied in order; the inverse only when each has one. */
export interface KeyTransform {
  ids: string[];
  key(key: Buffer, db: number): Buffer | null;
  sourceKey?: (targetKey: Buffer, db: number) => Buffer | null;
}

export function composeTransforms(list: TransformPlugin[]): KeyTransform | undefined {
  if (list.length === 0) return undefined;
  const key = (k: Buffer, db: number): Buffer | null => {
    let out: Buffer | null = k;
    for (const t of list) {
      out = t.key(out, db);
      if (out === null) return null;
    }
    return out;
  };
  // the inverses, last transform first
  const inverses: Array<(k: Buffer, db: number) => Buffer | null> = [];
  for (const t of [...list].reverse()) if (t.sourceKey) inverses.push(t.sourceKey.bind(t));
  return {
    ids: list.map((t) => t.id),
    key,
    ...(inverses.length === list.length
      ? {
          sourceKey: (k: Buffer, db: number): Buffer | null => {
            let out: Buffer | null = k;
            for (const inv of inverses) {
              out = inv(out, db);
              if (out === null) return null;
            }
            return out;
          },
        }
      : {}),
  };
}

/**
 * The db map and rename prefix as one lookup. Without a map, every db keeps its number (a cluster
 * target forces db 0, see `forceDb0`).
 */
export class KeyMapper {
  private readonly routes = new Map<number, DbRoute | undefined>();
  /** Which keys are migrated (the task's filter, and keys no transform drops); undefined: all. */
  readonly filter: ((key: Buffer, db: number) => boolean) | undefined;

  constructor(
    readonly dbMap: DbMap | undefined,
    readonly renamePrefix: string,
    filter: KeyFilterSpec,
    private readonly forceDb0: boolean,
    /** The task's transforms (plugins), applied before the db map's prefix and the rename prefix. */
    readonly transform?: KeyTransform,
  ) {
    const pass = keyFilter(filter);
    const t = transform;
    this.filter = t
      ? (k, db) => (!pass || pass(k)) && t.key(k, db) !== null
      : pass
        ? (k) => pass(k)
        : undefined;
  }

  /** A source key's name on the target: transformed, then prefixed (the route's prefix). */
  name(key: Buffer, db: number, prefix: Buffer | undefined): Buffer {
    const k = this.transform ? (this.transform.key(key, db) ?? key) : key;
    return prefix ? Buffer.concat([prefix, k]) : k;
  }

  route(db: number): DbRoute | undefined {
    if (this.routes.has(db)) return this.routes.get(db);
    let t = dbTargetOf(this.dbMap, db);
    if (t && this.forceDb0 && t.db !== 0) t = { ...t, db: 0 };
    const prefix = `${t?.prefix ?? ''}${this.renamePrefix}`;
    const r = t ? { db: t.db, prefix: prefix ? Buffer.from(prefix, 'utf8') : undefined } : undefined;
    this.routes.set(db, r);
    return r;
  }

  /** Every source db would land in db 0 with no map saying so (a cluster or proxy target). */
  get mergesDbs(): boolean {
    return this.forceDb0 && !this.dbMap;
  }

  /** True when keys change name on the way (a prefix somewhere). */
  get renames(): boolean {
    return (
      this.transform !== undefined ||
      this.renamePrefix !== '' ||
      Object.values(this.dbMap ?? {}).some((t) => Boolean(t?.prefix))
    );
  }

  /** Source dbs that share a target db (their FLUSHDB must not become the target's). */
  sharesTargetDb(db: number): boolean {
    const r = this.route(db);
    if (!r) return false;
    if (this.forceDb0 || this.dbMap?.['*']) return true;
    return Object.entries(this.dbMap ?? {}).filter(([, t]) => t?.db === r.db).length > 1;
  }
}

/** The target dbs a task writes to (db 0 alone on a cluster). */
export function targetDbs(mapper: KeyMapper, cluster: boolean): number[] {
  if (cluster) return [0];
  const dbs = new Set<number>();
  for (let db = 0; db < 16; db++) {
    const r = mapper.route(db);
    if (r) dbs.add(r.db);
  }
  return [...dbs].sort((a, b) => a - b);
}
