import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared fixture folder (`../shared` beside the checkout), or FERRY_SHARED_DIR. */
export const FIXTURE_DIR = join(
  process.env.FERRY_SHARED_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared'),
  'fixtures',
  'rdb',
);

export interface RdbFixture {
  name: string;
  path: string;
  magic: string;
  /** Total keys the fixture index counted (from its "contents" column), when it says. */
  indexKeys?: number;
}

/** Every distinct fixture (byte-identical copies once), with what INDEX.md says of it. */
export function rdbFixtures(): RdbFixture[] {
  if (!existsSync(FIXTURE_DIR))
    throw new Error(
      `fixtures not found at ${FIXTURE_DIR}; put ../shared beside the checkout or set FERRY_SHARED_DIR`,
    );
  const index = readFileSync(join(FIXTURE_DIR, 'INDEX.md'), 'utf8');
  const counts = new Map<string, number>();
  for (const line of index.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const file = /^`(.+\.rdb)`$/.exec(cells[1] ?? '')?.[1];
    const contents = cells[5] ?? '';
    if (!file) continue;
    const keys = [...(contents.split(';')[0]?.matchAll(/×(\d+)/g) ?? [])].reduce(
      (s, m) => s + Number(m[1]),
      0,
    );
    counts.set(file, /no keys/.test(contents) ? 0 : keys);
  }
  const seen = new Set<string>();
  const out: RdbFixture[] = [];
  for (const dir of readdirSync(FIXTURE_DIR).sort()) {
    if (dir.endsWith('.md')) continue;
    for (const name of readdirSync(join(FIXTURE_DIR, dir)).sort()) {
      const path = join(FIXTURE_DIR, dir, name);
      const bytes = readFileSync(path);
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (seen.has(sha)) continue;
      seen.add(sha);
      const indexKeys = counts.get(name);
      out.push({
        name: `${dir}/${name}`,
        path,
        magic: bytes.subarray(0, 9).toString('latin1'),
        ...(indexKeys !== undefined ? { indexKeys } : {}),
      });
    }
  }
  return out;
}
