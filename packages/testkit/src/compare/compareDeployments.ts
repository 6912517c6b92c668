import { type DeploymentLike, DeploymentReader, toDeploymentSpec } from './deployment.js';
import { compareValues, showBytes } from './values.js';

export type DifferenceKind = 'missing' | 'extra' | 'type' | 'value' | 'ttl';

export interface Difference {
  kind: DifferenceKind;
  /** Source db and key (for `extra`: the source key it would have been). */
  db: number;
  key: Buffer;
  /** Where the key is (or should be) on the target. */
  targetDb: number;
  targetKey: Buffer;
  detail: string;
}

/** How source keys land on the target: db mapping, prefixes, renames. Identity by default. */
export interface KeyMapping {
  toTarget(db: number, key: Buffer): { db: number; key: Buffer } | null;
  toSource(db: number, key: Buffer): { db: number; key: Buffer } | null;
}

export const identityMapping: KeyMapping = {
  toTarget: (db, key) => ({ db, key }),
  toSource: (db, key) => ({ db, key }),
};

/** Every source db into target db 0 with a per-db prefix ("db1:") — how a multi-db source lands in a cluster. */
export function prefixPerDbMapping(prefix: (db: number) => string, dbs: number[]): KeyMapping {
  const prefixes = dbs
    .map((db) => ({ db, p: Buffer.from(prefix(db)) }))
    .sort((x, y) => y.p.length - x.p.length);
  return {
    toTarget: (db, key) => ({ db: 0, key: Buffer.concat([Buffer.from(prefix(db)), key]) }),
    toSource: (_db, key) => {
      const hit = prefixes.find(({ p }) => key.subarray(0, p.length).equals(p));
      return hit ? { db: hit.db, key: key.subarray(hit.p.length) } : null;
    },
  };
}

export interface CompareOptions {
  /** Source databases to read. Default [0]. */
  dbs?: number[];
  /** Target databases scanned for extra keys. Default: the mapped `dbs`. */
  targetDbs?: number[];
  /** Allowed difference between absolute expiry times; keys this close to expiring are not reported missing. Default 2000 ms. */
  ttlToleranceMs?: number;
  mapping?: KeyMapping;
  /** Stop after this many differences. Default 1000. */
  limit?: number;
  /** Keys compared at once. Default 16. */
  concurrency?: number;
}

const BATCH = 200;

/**
 * The test oracle: reads every key on both sides (SCAN on every primary, then type-specific reads)
 * and lists the differences — keys missing on the target, extra on the target, of another type,
 * with another value or another TTL. Big keys are read in chunks. Independent of Ferry's own code.
 */
export async function compareDeployments(
  source: DeploymentLike,
  target: DeploymentLike,
  options: CompareOptions = {},
): Promise<Difference[]> {
  const src = new DeploymentReader(toDeploymentSpec(source));
  const tgt = new DeploymentReader(toDeploymentSpec(target));
  const mapping = options.mapping ?? identityMapping;
  const tolerance = options.ttlToleranceMs ?? 2000;
  const limit = options.limit ?? 1000;
  const concurrency = options.concurrency ?? 16;
  const dbs = options.dbs ?? [0];
  const diffs: Difference[] = [];
  const seen = new Set<string>();
  const report = (d: Difference): void => {
    const id = `${d.kind}:${d.db}:${d.key.toString('latin1')}`;
    if (seen.has(id) || diffs.length >= limit) return; // SCAN may return a key twice
    seen.add(id);
    diffs.push(d);
  };

  try {
    await Promise.all([src.open(), tgt.open()]);

    // source → target: missing, type, ttl, value
    for (const db of dbs) {
      for await (const batch of src.scan(db, BATCH)) {
        if (diffs.length >= limit) break;
        const pairs = batch.flatMap((key) => {
          const t = mapping.toTarget(db, key);
          return t ? [{ key, t }] : [];
        });
        const srcNodes = await src.locate(
          db,
          pairs.map((p) => p.key),
        );
        const tgtNodes = await Promise.all(
          pairs.map((p, i) => tgt.locate(p.t.db, [p.t.key]).then((n) => n[0] ?? srcNodes[i])),
        );
        const meta = await Promise.all(
          pairs.map(async (p, i) => {
            const sNode = srcNodes[i];
            const tNode = tgtNodes[i];
            if (!sNode || !tNode) throw new Error(`no node found for key ${showBytes(p.key)}`);
            const sConn = sNode.conn(db);
            const tConn = tNode.conn(p.t.db);
            const [[sType, sTtl], [tType, tTtl]] = await Promise.all([
              Promise.all([sConn.type(p.key), sConn.pttl(p.key)]),
              Promise.all([tConn.type(p.t.key), tConn.pttl(p.t.key)]),
            ]);
            return { ...p, sNode, tNode, sConn, tConn, sType, sTtl, tType, tTtl };
          }),
        );
        const valueChecks: Array<() => Promise<void>> = [];
        for (const m of meta) {
          const base = { db, key: m.key, targetDb: m.t.db, targetKey: m.t.key };
          // deleted or expired since the scan (TYPE and PTTL are two reads: -2 means gone by the second)
          if (m.sType === 'none' || m.sTtl === -2) continue;
          if (m.tType === 'none' || m.tTtl === -2) {
            if (m.sTtl >= 0 && m.sTtl <= tolerance) continue; // expiring right now
            report({ ...base, kind: 'missing', detail: `${m.sType} missing on the target` });
            continue;
          }
          if (m.sType !== m.tType) {
            report({ ...base, kind: 'type', detail: `type ${m.sType} ≠ ${m.tType}` });
            continue;
          }
          const ttlDiff =
            m.sTtl < 0 !== m.tTtl < 0 ||
            (m.sTtl >= 0 && m.tTtl >= 0 && Math.abs(m.sTtl - m.tTtl) > tolerance);
          if (ttlDiff) {
            const fmt = (t: number): string => (t < 0 ? 'no TTL' : `${t} ms`);
            report({ ...base, kind: 'ttl', detail: `TTL ${fmt(m.sTtl)} ≠ ${fmt(m.tTtl)}` });
          }
          valueChecks.push(async () => {
            const detail = await compareValues(
              m.sType,
              { node: m.sNode, conn: m.sConn, key: m.key },
              { node: m.tNode, conn: m.tConn, key: m.t.key },
            );
            if (detail) {
              // A key that expired or vanished mid-read is not a difference.
              const [sT, tT] = await Promise.all([m.sConn.type(m.key), m.tConn.type(m.t.key)]);
              if (sT !== 'none' && tT !== 'none') report({ ...base, kind: 'value', detail });
            }
          });
        }
        for (let i = 0; i < valueChecks.length; i += concurrency) {
          await Promise.all(valueChecks.slice(i, i + concurrency).map((f) => f()));
        }
      }
    }

    // target → source: extra keys
    const targetDbs =
      options.targetDbs ??
      [...new Set(dbs.map((db) => mapping.toTarget(db, Buffer.alloc(0))?.db ?? db))].filter(
        (db) => !tgt.isCluster || db === 0,
      );
    for (const tdb of targetDbs) {
      for await (const batch of tgt.scan(tdb, BATCH)) {
        if (diffs.length >= limit) break;
        const back = batch.map((key) => ({ key, s: mapping.toSource(tdb, key) }));
        const checks = await Promise.all(
          back.map(async ({ key, s }) => {
            if (!s || !dbs.includes(s.db)) return { key, s, exists: 0, ttl: -1 };
            const [node] = await src.locate(s.db, [s.key]);
            const [exists, ttl] = await Promise.all([
              node ? node.conn(s.db).exists(s.key) : Promise.resolve(0),
              (await tgt.locate(tdb, [key]))[0]?.conn(tdb).pttl(key) ?? Promise.resolve(-1),
            ]);
            return { key, s, exists, ttl };
          }),
        );
        for (const c of checks) {
          if (c.exists) continue;
          if (c.ttl >= 0 && c.ttl <= tolerance) continue;
          if (c.ttl === -2) continue; // gone from the target too since its scan (it expired there as well)
          report({
            kind: 'extra',
            db: c.s?.db ?? -1,
            key: c.s?.key ?? c.key,
            targetDb: tdb,
            targetKey: c.key,
            detail: c.s ? 'only on the target' : 'only on the target (maps to no source key)',
          });
        }
      }
    }
  } finally {
    src.close();
    tgt.close();
  }
  return diffs;
}

/** One line per difference, for assertion messages. */
export function formatDifferences(diffs: Difference[], max = 20): string {
  const lines = diffs.slice(0, max).map((d) => `${d.kind} db${d.db} ${showBytes(d.key, 80)}: ${d.detail}`);
  if (diffs.length > max) lines.push(`… and ${diffs.length - max} more`);
  return lines.join('\n');
}
