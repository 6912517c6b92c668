/**
 * The check before "done" of a file source reads the file again and compares: it must see a
 * target that does not hold what the file holds.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { engine } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('the check before done, against the file', () => {
  it('names a key whose value on the target is not the file’s, and does not say done', async () => {
    const source = await servers.redis({ label: 'source' });
    const target = await servers.redis({ label: 'target' });
    for (let i = 0; i < 200; i++) await source.command('SET', `k:${i}`, `file-${i}`);
    await source.command('RPUSH', 'list', 'a', 'b', 'c');
    await source.command('SAVE');
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-backup-')), 'dump.rdb');
    copyFileSync(source.rdbPath, file);
    // the target already has two of the keys, other values: "skip" keeps them (the target wins)
    await target.command('SET', 'k:7', 'the target’s own');
    await target.command('RPUSH', 'list', 'a', 'x', 'c');
    const task = engine().createTask({
      id: 'skip-check',
      source: { topology: 'file', options: { files: [file] } },
      target: { endpoint: { host: target.host, port: target.port } },
      options: { conflict: 'skip' },
    });
    const err = await task.start().catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe('NOT_IN_SYNC');
    expect(String((err as Error).message)).toMatch(/2 of 201 sampled keys differ from the file/);
    expect(String((err as Error).message)).toContain(
      'length db 0 "k:7" (STRLEN 6 on the source, 18 on the target)',
    );
    expect(String((err as Error).message)).toContain(
      'value db 0 "list" (element 1: "b" on the source, "x" on the target)',
    );
    expect(String((err as Error).message)).toContain('load the file into a server and run ferry verify');
    expect(task.state).toBe('failed');
  });
});
