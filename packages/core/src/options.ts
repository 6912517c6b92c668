import { FerryError } from '@ferry/errors';
import type {
  ConflictPolicy,
  DbMap,
  DbTarget,
  ImportMode,
  KeyFilterSpec,
  KeyPattern,
  RateLimit,
  ResolvedOptions,
  SnapshotThreads,
  WriteMode,
} from '@ferry/plugin-sdk';
import { FERRY_KEY_PREFIX } from './ferry-keys.js';
import { globToRegExp } from './glob.js';

// What a plugin sees of the options (resolved) is part of the plugin contracts.
export type {
  ConflictPolicy,
  DbMap,
  DbTarget,
  ImportMode,
  KeyFilterSpec,
  KeyPattern,
  RateLimit,
  ResolvedOptions,
  SnapshotThreads,
  WriteMode,
};

export interface TaskOptions {
  dbMap?: DbMap;
  filter?: KeyFilterSpec;
  /** Added in front of every key on the target: `<db map prefix><renamePrefix><key>`. */
  renamePrefix?: string;
  rateLimit?: RateLimit;
  writeMode?: WriteMode;
  conflict?: ConflictPolicy;
  /** Values whose serialized size passes this are written in chunks (rewrite path). Default 16 MB. */
  bigKeyThreshold?: number;
  /** Commands written and not yet acknowledged per target node. Default 2048. */
  maxInFlight?: number;
  /**
   * Bytes of values written and not yet acknowledged, per shard: the snapshot's write window is
   * held to it whatever the shape of the data (a value bigger than this goes alone). Default 32 MB.
   */
  maxInFlightBytes?: number;
  /** Write `<reservedPrefix>heartbeat:<task>` on the source every second to measure lag in time (needs write access). */
  sourceHeartbeat?: boolean;
  /**
   * Write each shard's snapshot on a thread of its own: `auto` (default) when the task has several
   * shards and the machine more than two cores (else the threads only share the same cores with
   * the servers), `always`, or `never`.
   */
  snapshotThreads?: SnapshotThreads;
  /**
   * The prefix of the keys Ferry keeps (checkpoints, leases, temporary keys, the heartbeat). Default
   * `__ferry:`; choose another when the source holds keys under it (the precheck fails then).
   */
  reservedPrefix?: string;
  /** Key transforms (plugins of kind "transform", by id) applied in order to every key. */
  transforms?: string[];
  /**
   * Valkey 8.1+ targets: run under `import-mode` (no expiry, no eviction while keys arrive), turned
   * on at the start and off at the end: `auto` (default) where the target allows it, `on` (fail
   * where it does not), `off`. See import-mode.ts.
   */
  targetImportMode?: ImportMode;
}

function invalid(message: string): FerryError {
  return new FerryError('CONFIG_INVALID', message);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(`${what} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

function count(value: unknown, what: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw invalid(`${what} must be a number ≥ ${min}; got ${JSON.stringify(value)}`);
  return value;
}

function dbNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw invalid(`${what}: "${text}" is not a database number`);
  return Number(text);
}

/**
 * `SRC=DST[+PREFIX]`, comma separated: `0=0`, `*=0`, `1=0+db1:`. A prefix may hold any character
 * but a comma; use the config file for that.
 */
export function parseDbMap(text: string): DbMap {
  const map: DbMap = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const m = /^(\*|\d+)=(\d+)(?:\+(.*))?$/.exec(item);
    if (!m)
      throw invalid(`db map entry "${item}": expected SRC=DST or SRC=DST+PREFIX (e.g. 0=0, *=0, 1=0+db1:)`);
    const src = m[1] === '*' ? '*' : dbNumber(m[1] as string, 'db map');
    if (map[src]) throw invalid(`db map: source db ${src} is mapped twice`);
    map[src] = { db: Number(m[2]), ...(m[3] ? { prefix: m[3] } : {}) };
  }
  return map;
}

/** `prefix:ABC`, `glob:user:*`, `regex:^a[0-9]+$`; a leading `!` makes it an exclusion. Bare text is a glob. */
export function parseFilter(specs: string[]): KeyFilterSpec {
  const include: KeyPattern[] = [];
  const exclude: KeyPattern[] = [];
  for (const raw of specs) {
    const negate = raw.startsWith('!');
    const text = negate ? raw.slice(1) : raw;
    const colon = text.indexOf(':');
    const kind = colon < 0 ? '' : text.slice(0, colon);
    let p: KeyPattern;
    if (kind === 'prefix') p = { prefix: text.slice(colon + 1) };
    else if (kind === 'regex') p = { regex: text.slice(colon + 1) };
    else if (kind === 'glob') p = { glob: text.slice(colon + 1) };
    else p = { glob: text };
    (negate ? exclude : include).push(p);
  }
  // checked as it is parsed: a typo in a pattern is refused before anything runs
  checkPatterns(include, 'include');
  checkPatterns(exclude, 'exclude');
  return { include, exclude };
}

function checkDbMap(map: unknown): DbMap | undefined {
  if (map === undefined) return undefined;
  if (typeof map === 'string') return parseDbMap(map);
  if (typeof map !== 'object' || map === null) throw invalid('dbMap must be an object or "SRC=DST,…"');
  const out: DbMap = {};
  for (const [k, v] of Object.entries(map)) {
    const src = k === '*' ? '*' : dbNumber(k, 'dbMap');
    const t = typeof v === 'number' ? { db: v } : (v as DbTarget);
    if (typeof t !== 'object' || t === null || !Number.isInteger(t.db) || t.db < 0)
      throw invalid(`dbMap["${k}"] must be a db number or { db, prefix }`);
    if (t.prefix !== undefined && typeof t.prefix !== 'string')
      throw invalid(`dbMap["${k}"].prefix must be text`);
    out[src] = { db: t.db, ...(t.prefix ? { prefix: t.prefix } : {}) };
  }
  return out;
}

/** Every field of TaskOptions (the API's typed options are built from this list too). */
export const TASK_OPTION_NAMES = [
  'dbMap',
  'filter',
  'renamePrefix',
  'rateLimit',
  'writeMode',
  'conflict',
  'bigKeyThreshold',
  'maxInFlight',
  'maxInFlightBytes',
  'sourceHeartbeat',
  'snapshotThreads',
  'reservedPrefix',
  'transforms',
  'targetImportMode',
] as const satisfies ReadonlyArray<keyof TaskOptions>;

/** The fields each options object may have: anything else is a typo, refused rather than ignored. */
const KNOWN: Record<string, readonly string[]> = {
  options: TASK_OPTION_NAMES,
  filter: ['include', 'exclude'],
  rateLimit: ['keysPerSec', 'bytesPerSec'],
};

function onlyKnown(value: unknown, what: keyof typeof KNOWN): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${what === 'options' ? 'the task options' : what} must be an object`);
  const allowed = KNOWN[what] as readonly string[];
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0)
    throw invalid(
      `unknown ${what === 'options' ? 'task option' : `${what} field`}${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: known are ${allowed.join(', ')}`,
    );
}

/** Each filter pattern as the matcher will read it: one kind, text, a valid glob or regex. */
function checkPatterns(list: unknown, what: string): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw invalid(`filter.${what} must be a list of patterns`);
  for (const p of list as unknown[]) {
    const keys = typeof p === 'object' && p !== null ? Object.keys(p) : [];
    const kind = keys[0];
    if (keys.length !== 1 || (kind !== 'prefix' && kind !== 'glob' && kind !== 'regex'))
      throw invalid(`filter.${what}: ${JSON.stringify(p)} must be one of { prefix }, { glob }, { regex }`);
    const text = (p as Record<string, unknown>)[kind];
    if (typeof text !== 'string' || (kind !== 'prefix' && text === ''))
      throw invalid(`filter.${what}: the ${kind} must be non-empty text`);
    if (kind === 'glob') globToRegExp(text);
    if (kind === 'regex') {
      try {
        new RegExp(text, 'u');
      } catch (err) {
        throw invalid(`filter regex ${JSON.stringify(text)} is invalid: ${(err as Error).message}`);
      }
    }
  }
}

function reservedPrefix(p: unknown): string {
  if (p === undefined) return FERRY_KEY_PREFIX;
  if (typeof p !== 'string' || !/^[\x21-\x7e]{3,64}$/.test(p) || /[{}*?[\]\\]/.test(p))
    throw invalid(
      `reservedPrefix must be 3 to 64 printable characters without spaces, braces or glob characters; got ${JSON.stringify(p)}`,
    );
  return p;
}

function transformIds(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && /^[a-z][a-z0-9-]*$/.test(x)))
    throw invalid(
      `transforms must be a list of transform ids (lower case letters, digits, dashes); got ${JSON.stringify(v)}`,
    );
  if (new Set(v).size !== v.length) throw invalid(`transforms names one twice: ${v.join(', ')}`);
  return v as string[];
}

export function resolveOptions(o: TaskOptions = {}): ResolvedOptions {
  onlyKnown(o, 'options');
  onlyKnown(o.filter, 'filter');
  onlyKnown(o.rateLimit, 'rateLimit');
  checkPatterns(o.filter?.include, 'include');
  checkPatterns(o.filter?.exclude, 'exclude');
  const filter = o.filter ?? {};
  return {
    dbMap: checkDbMap(o.dbMap),
    filter,
    renamePrefix: o.renamePrefix ?? '',
    rateLimit: {
      keysPerSec: count(o.rateLimit?.keysPerSec, 'rateLimit.keysPerSec', 0),
      bytesPerSec: count(o.rateLimit?.bytesPerSec, 'rateLimit.bytesPerSec', 0),
    },
    writeMode: oneOf(o.writeMode, ['auto', 'restore', 'rewrite'] as const, 'writeMode', 'auto'),
    conflict: oneOf(o.conflict, ['fail', 'replace', 'skip'] as const, 'conflict', 'fail'),
    bigKeyThreshold: count(o.bigKeyThreshold, 'bigKeyThreshold', 16 << 20, 1024),
    maxInFlight: count(o.maxInFlight, 'maxInFlight', 2048, 1),
    maxInFlightBytes: count(o.maxInFlightBytes, 'maxInFlightBytes', 32 << 20, 1 << 20),
    sourceHeartbeat: o.sourceHeartbeat ?? false,
    reservedPrefix: reservedPrefix(o.reservedPrefix),
    transforms: transformIds(o.transforms),
    snapshotThreads: oneOf(
      o.snapshotThreads,
      ['auto', 'always', 'never'] as const,
      'snapshotThreads',
      'auto',
    ),
    targetImportMode: oneOf(o.targetImportMode, ['auto', 'on', 'off'] as const, 'targetImportMode', 'auto'),
  };
}
