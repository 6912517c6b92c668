import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Postgres, startPostgres } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox, Storage } from '../src/index.js';

const KEY = 'a'.repeat(64);

async function exercise(storage: Storage): Promise<void> {
  // the checked-in migrations are exactly the entities
  expect(await storage.schemaDrift()).toBe('');
  const secret = { endpoint: { host: '10.0.0.5', port: 6379, password: 'hunter2-very-secret' } };
  await storage.insertTask({
    id: 't1',
    name: 'orders to cluster',
    tags: ['prod', 'orders'],
    sourceTopology: 'standalone',
    sourceOptions: storage.seal({ nodes: [secret.endpoint] }),
    target: storage.seal(secret),
    options: { conflict: 'replace' },
    runningMode: 'scheduled',
    scheduledAt: new Date('2027-01-01T00:00:00Z'),
    status: 'created',
    warningsAcknowledged: false,
    error: null,
  });
  const t = await storage.getTask('t1');
  expect(t?.tags).toEqual(['prod', 'orders']);
  expect(t?.target).not.toContain('hunter2');
  expect(storage.unseal(t?.target ?? '')).toEqual(secret);
  expect((await storage.listTasks({ tag: 'orders' })).total).toBe(1);
  expect((await storage.listTasks({ tag: 'nope' })).total).toBe(0);
  expect((await storage.listTasks({ name: 'orders' })).items.map((x) => x.id)).toEqual(['t1']);
  expect((await storage.listTasks({ status: 'running' })).total).toBe(0);
  await storage.updateTask('t1', { status: 'full_sync' });
  expect((await storage.getTask('t1'))?.status).toBe('full_sync');

  // the checkpoint port
  const cp = storage.checkpoints();
  expect(await cp.load('t1')).toBeUndefined();
  await cp.save('t1', {
    a: { replid: 'r'.repeat(40), offset: 2 ** 40 + 7, db: 3, snapshotDone: true, updatedAt: 1 },
  });
  await cp.save('t1', {
    a: {
      replid: 'r'.repeat(40),
      offset: 2 ** 40 + 9,
      db: 3,
      snapshotDone: true,
      targetWasEmpty: true,
      updatedAt: 2,
    },
    b: { replid: 's'.repeat(40), offset: 5, db: 0, snapshotDone: false, updatedAt: 2 },
  });
  const loaded = await cp.load('t1');
  expect(loaded?.a?.offset).toBe(2 ** 40 + 9);
  expect(loaded?.b?.snapshotDone).toBe(false);
  // what a re-snapshot may empty on the target survives a restart of the service
  expect(loaded?.a?.targetWasEmpty).toBe(true);
  expect(loaded?.b?.targetWasEmpty).toBeUndefined();
  await cp.clear('t1');
  expect(await cp.load('t1')).toBeUndefined();

  await storage.addEvent('t1', 'state', 'created → checking', { from: 'created', to: 'checking' });
  await storage.addEvent('t1', 'warning', 'something');
  const ev = await storage.events('t1', { limit: 1 });
  expect([ev.total, ev.items[0]?.kind]).toEqual([2, 'state']);
  const reportId = await storage.saveCheckReport('t1', {
    status: 'warn',
    results: [{ checkId: 'version', status: 'warn', message: 'older target', advice: 'upgrade' }],
    checks: [{ id: 'version', title: 'Versions', status: 'warn', durationMs: 3 }],
    startedAt: new Date().toISOString(),
    durationMs: 5,
  });
  expect(reportId).toBeGreaterThan(0);
  expect((await storage.lastCheckReport('t1'))?.results.map((r) => r.message)).toEqual(['older target']);
  expect(await storage.deleteTask('t1')).toBe(true);
  expect(await storage.getTask('t1')).toBeNull();
}

describe('storage on SQLite (the embedded default)', () => {
  it('creates the file and its key on first start, applies the migrations, keeps secrets encrypted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-storage-'));
    const storage = await Storage.open({ sqlitePath: join(dir, 'data', 'ferry.db') });
    try {
      await exercise(storage);
      await storage.insertTask({
        id: 'kept',
        name: 'k',
        tags: [],
        sourceTopology: 'standalone',
        sourceOptions: storage.seal({ nodes: [{ host: 'h', port: 1, password: 'pw-in-clear-nowhere' }] }),
        target: storage.seal({ endpoint: { host: 'h', port: 2 } }),
        options: {},
        runningMode: 'immediate',
        scheduledAt: null,
        status: 'created',
        warningsAcknowledged: false,
        error: null,
      });
    } finally {
      await storage.close();
    }
    // the key file: created with mode 0600; the password is nowhere in the database file
    expect(statSync(join(dir, 'data', 'secret.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'data', 'ferry.db')).includes('pw-in-clear-nowhere')).toBe(false);
    // reopened: same data, migrations not applied twice
    const again = await Storage.open({ sqlitePath: join(dir, 'data', 'ferry.db') });
    expect(
      again.unseal<{ nodes: Array<{ password: string }> }>((await again.getTask('kept'))?.sourceOptions ?? '')
        .nodes[0]?.password,
    ).toBe('pw-in-clear-nowhere');
    await again.close();
    // another key cannot read them, and says why
    const other = await Storage.open({ sqlitePath: join(dir, 'data', 'ferry.db'), secretKey: KEY });
    const row = await other.getTask('kept');
    expect(() => other.unseal(row?.sourceOptions ?? '')).toThrow(/cannot be decrypted: FERRY_SECRET_KEY/);
    await other.close();
  });

  it('refuses a database URL it does not know and a malformed key', async () => {
    await expect(Storage.open({ url: 'mysql://x' })).rejects.toThrow(/FERRY_DATABASE_URL must be postgres/);
    expect(() => SecretBox.load({ env: 'short', keyFile: '/nonexistent' })).toThrow(/32 bytes/);
  });
});

// PostgreSQL is part of the harness (setup.sh installs it): no skip when it is missing
describe('storage on PostgreSQL', () => {
  let pg: Postgres | undefined;
  afterAll(() => pg?.stop());
  it('the same, on a real PostgreSQL started by the testkit', async () => {
    pg = await startPostgres();
    const storage = await Storage.open({
      url: pg.url,
      secretKey: KEY,
      keyFile: join(tmpdir(), 'unused.key'),
    });
    try {
      expect(storage.dialect).toBe('postgresql');
      await exercise(storage);
    } finally {
      await storage.close();
    }
  });
});
