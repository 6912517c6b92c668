// pnpm bench verify: `full`-mode verification of 1 M mixed keys (the snapshot bench rdb and bench
// migrate use) between two servers loaded from the same RDB, as keys/s and as a ratio to a plain
// SCAN + DUMP pass over the same servers in the same run (every key DUMPed on both sides and the
// payloads compared: the least a key-by-key check can read).
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor } from '../../packages/testkit/dist/index.js';
import { verify } from '../../packages/verify/dist/index.js';
import { mixed1m } from './dataset.mjs';

const rdb = await mixed1m();

async function loaded(label) {
  const d = mkdtempSync(join(tmpdir(), `ferry-bench-${label}-`));
  copyFileSync(rdb, join(d, 'dump.rdb'));
  const s = await startRedis({ label, startTimeoutMs: 120_000, config: { dir: d } });
  await waitFor(async () => (await s.info('persistence')).loading === '0', {
    timeoutMs: 120_000,
    what: 'the RDB to load',
  });
  return s;
}

const [a, b] = await Promise.all([loaded('bench-verify-a'), loaded('bench-verify-b')]);
try {
  const keys = Number(/keys=(\d+)/.exec((await a.info('keyspace')).db0 ?? '')?.[1] ?? 0);
  console.log(`pnpm bench verify — ${keys.toLocaleString('en')} mixed keys, two servers from the same RDB\n`);

  // reference: SCAN the source, DUMP each key on both sides (pipelined), compare the payloads
  const ca = a.client();
  const cb = b.client();
  let t0 = performance.now();
  let cursor = '0';
  let seen = 0;
  let unequal = 0;
  do {
    const [next, batch] = await ca.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    const pa = ca.pipeline();
    const pb = cb.pipeline();
    for (const k of batch) {
      pa.dumpBuffer(k);
      pb.dumpBuffer(k);
    }
    const [ra, rb] = await Promise.all([pa.exec(), pb.exec()]);
    for (let i = 0; i < batch.length; i++) if (!ra[i][1]?.equals(rb[i][1] ?? Buffer.alloc(0))) unequal++;
    seen += batch.length;
  } while (cursor !== '0');
  const refMs = performance.now() - t0;
  ca.disconnect();
  cb.disconnect();

  t0 = performance.now();
  const report = await verify({
    source: { endpoint: { host: a.host, port: a.port } },
    target: { endpoint: { host: b.host, port: b.port } },
    mode: 'full',
    rounds: 1,
  });
  const ferryMs = performance.now() - t0;
  const rate = (n, ms) => Math.round((n / ms) * 1000).toLocaleString('en');
  console.log(
    `SCAN + DUMP both sides   ${(refMs / 1000).toFixed(2)} s  ${rate(seen, refMs)} keys/s  (${unequal} payloads differ)`,
  );
  console.log(
    `ferry verify --mode full  ${(ferryMs / 1000).toFixed(2)} s  ${rate(report.keysChecked, ferryMs)} keys/s  (${report.differences} differences; both directions)`,
  );
  console.log(`ratio                     ${(ferryMs / refMs).toFixed(2)}× the SCAN + DUMP pass`);
} finally {
  await Promise.all([a.stop(), b.stop()]);
}
