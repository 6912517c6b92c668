import {
  compareDeployments,
  formatDifferences,
  loadAcrossSnapshot,
  PROXY_LOAD_MIX,
  populate,
  serverScope,
  startTwemproxy,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, record, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('proxy targets', () => {
  it('standalone → twemproxy (3 backends): RESTORE through the proxy, the stream as the proxy takes it, unsupported commands reported with their key', async () => {
    const source = await servers.redis({ label: 'source' });
    const backends = await Promise.all([1, 2, 3].map((i) => servers.redis({ label: `tw-backend${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends }));
    const src = source.client();
    await populate(src, { randomKeys: 2000 });
    const task = engine().createTask(
      spec(source, proxy.endpoint, { target: { endpoint: proxy.endpoint, proxy: 'twemproxy' } }),
    );
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1500, mix: PROXY_LOAD_MIX });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    // every backend got its share, through the proxy's own hashing
    for (const b of backends) expect(await b.client().dbsize()).toBeGreaterThan(300);
    // the catalogue's 20 KB key name is longer than twemproxy takes (16 335 bytes): reported, not sent
    // (twemproxy would reset the connection), and the only difference
    const long = (k: Buffer): boolean => k.length > 16_335;
    // while the task runs, its checkpoint key is on the target
    const ours = (k: Buffer): boolean => k.toString('latin1').startsWith('__ferry:');
    expect(
      log.warnings.some((w) =>
        /\(20480 bytes\) was not written: longer than the target takes \(16335 bytes\)/.test(w),
      ),
    ).toBe(true);
    let diffs = (await compareDeployments(source, proxy, { dbs: [0] })).filter((d) => !ours(d.key));
    expect(diffs.filter((d) => long(d.key)).map((d) => d.kind)).toEqual(['missing']);
    expect(formatDifferences(diffs.filter((d) => !long(d.key))), log.warnings.join('\n')).toBe('');
    // commands twemproxy does not take are not sent (it would drop the connection): each is an event with its key
    await src.xadd('stream:new', '*', 'f', 'v');
    await src.set('to-rename', 'v');
    await src.rename('to-rename', 'renamed');
    await src.set('after', 'ok');
    await waitFor(
      async () =>
        log.warnings.some((w) =>
          /XADD "stream:new" was not applied: twemproxy does not support XADD/.test(w),
        ),
      {
        timeoutMs: 10_000,
        what: 'the XADD warning',
      },
    );
    await untilSynced(task);
    expect(await proxy.client().get('after')).toBe('ok');
    expect(task.metrics()[0]?.unsupported?.XADD).toBe(1);
    expect(task.metrics()[0]?.unsupported?.RENAME).toBe(1);
    expect(
      log.warnings.some((w) =>
        /RENAME "to-rename" was not applied: twemproxy does not support RENAME/.test(w),
      ),
    ).toBe(true);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    diffs = await compareDeployments(source, proxy, { dbs: [0] });
    // exactly what was reported differs: the new stream, the long key, and the rename not applied
    expect(diffs.map((d) => `${d.kind}:${long(d.key) ? 'the long key' : d.key.toString()}`).sort()).toEqual(
      ['missing:stream:new', 'missing:the long key', 'missing:renamed', 'extra:to-rename'].sort(),
    );
    src.disconnect();
  });

  it('codis target: no RESTORE, MULTI, SELECT, RENAME or SCAN is sent (a real server refusing them, as codis-proxy does, stands in: no codis-proxy runs here)', async () => {
    const source = await servers.redis({ label: 'source-codis' });
    // codis-proxy 3.2 refuses these (pkg/proxy/mapper.go FlagNotAllow); renamed away, any use fails the task
    const refused = ['RESTORE', 'MULTI', 'EXEC', 'SELECT', 'RENAME', 'RENAMENX'];
    const target = await servers.redis({
      label: 'codis-standin',
      config: { 'rename-command': refused.map((c) => `${c} ""`) },
    });
    const src = source.client();
    await populate(src, { randomKeys: 1500, bigKeys: { elements: 50_000, types: ['hash', 'list'] } });
    const task = engine().createTask(
      spec(source, endpointOf(target), {
        target: { endpoint: endpointOf(target), proxy: 'codis', version: '7.0.0' },
        options: { bigKeyThreshold: 64 * 1024 },
      }),
    );
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1000, mix: PROXY_LOAD_MIX });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state, JSON.stringify(log.errors)).toBe('succeeded');
    // nor the other commands codis-proxy refuses (left enabled so the comparison below can SCAN)
    const stats = String(await target.client().info('commandstats'));
    // (INFO is there: the test's own ioredis client sends it when it connects)
    for (const c of ['scan', 'dbsize', 'keys', 'flushdb', 'flushall'])
      expect(stats, `Ferry sent ${c.toUpperCase()} to the codis target`).not.toMatch(
        new RegExp(`^cmdstat_${c}:`, 'm'),
      );
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    src.disconnect();
  });
});
