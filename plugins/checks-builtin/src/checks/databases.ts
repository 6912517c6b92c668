import { dbTargetOf, endpointName, readNode, targetNodes } from '@ferry/core';
import { defineCheck, keyspaceDbs, type Result, result } from '../util.js';

/** Every source db with keys has somewhere to go: a db the target has (a cluster has db 0 only). */
export function checkDatabases() {
  return defineCheck(
    'databases',
    'Databases',
    async (input) => {
      const used = new Map<number, number>();
      for (const shard of input.shards)
        for (const [db, n] of keyspaceDbs(await input.probe.info(readNode(shard), 'keyspace')))
          used.set(db, (used.get(db) ?? 0) + n);
      const map = input.options.dbMap;
      const routes = [...used].map(([db, keys]) => {
        const r = dbTargetOf(map, db);
        return { db, keys, to: r?.db, prefix: r?.prefix };
      });
      const migrated = routes.filter((r) => r.to !== undefined);
      const dropped = routes.filter((r) => r.to === undefined);
      const out: Result[] = [];
      if (dropped.length > 0)
        out.push(
          result(
            'warn',
            `source db(s) ${dropped.map((d) => `${d.db} (${d.keys} keys)`).join(', ')} map nowhere in the db map and are not migrated`,
            {
              advice: 'add them to --db-map if they should move too',
              details: { dropped },
            },
          ),
        );
      if (input.targetCluster) {
        const outside = migrated.filter((r) => r.to !== 0);
        if (outside.length > 0 || (!map && migrated.some((r) => r.db !== 0))) {
          const list = (outside.length > 0 ? outside : migrated.filter((r) => r.db !== 0)).map(
            (r) => `${r.db} (${r.keys} keys)`,
          );
          out.push(
            result(
              'fail',
              `the target is a cluster, which has db 0 only, and source db(s) ${list.join(', ')} are not mapped to it`,
              {
                advice:
                  'map every db to 0, each with its own prefix so keys cannot collide: --db-map 0=0,1=0+db1:,2=0+db2:',
                details: { sourceDbs: Object.fromEntries(used) },
              },
            ),
          );
        }
        const merged = migrated.filter((r) => r.to === 0);
        const prefixes = new Set(merged.map((r) => r.prefix ?? ''));
        if (merged.length > 1 && prefixes.size < merged.length)
          out.push(
            result(
              'warn',
              `source dbs ${merged.map((r) => r.db).join(', ')} all go to db 0 and some share a prefix: equal key names overwrite each other`,
              {
                advice: 'give each db its own prefix in --db-map',
              },
            ),
          );
        if (out.every((r) => r.status !== 'fail'))
          out.push(
            result(
              'pass',
              `every migrated db goes to the cluster's db 0 (${migrated.map((r) => r.db).join(', ') || 'no keys yet'})`,
            ),
          );
        return out;
      }
      const target = (await targetNodes(input))[0] ?? input.target;
      const c = await input.probe.config(target, 'databases');
      const needed = Math.max(-1, ...migrated.map((r) => r.to as number)) + 1;
      if (!('value' in c)) {
        out.push(
          result(
            'warn',
            `could not read how many databases the target has (${c.refused}); the migration needs ${needed}`,
            {
              advice: `make sure ${endpointName(target)} has "databases ${needed}" or more`,
            },
          ),
        );
        return out;
      }
      const have = Number(c.value);
      const missing = migrated.filter((r) => (r.to as number) >= have);
      if (missing.length > 0)
        out.push(
          result(
            'fail',
            `the target has ${have} databases but source db(s) ${missing.map((r) => `${r.db}→${r.to}`).join(', ')} need more`,
            {
              advice: `set "databases ${needed}" in the target's config (a restart), or map those dbs lower with --db-map`,
              details: { targetDatabases: have, needed },
            },
          ),
        );
      else out.push(result('pass', `the target has ${have} databases; the migration uses ${needed}`));
      return out;
    },
    { readsTarget: true },
  );
}
