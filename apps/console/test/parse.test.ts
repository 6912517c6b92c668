import { describe, expect, it } from 'vitest';
import { checkOptions, optionsText } from '../src/lib/options.js';
import { parseDbMap, parseFilter, parseNodes, parseRate } from '../src/lib/parse.js';
import { asDifferences, toCsv } from '../src/lib/report.js';

describe('what the operator types, checked as typed', () => {
  it('node lines: host:port[:password], one per line, a password may hold colons, IPv6 in brackets', () => {
    expect(parseNodes('10.0.0.5:6379\n\n  redis-b:6380:p:w:d  \n[::1]:7000')).toEqual({
      ok: true,
      value: [
        { host: '10.0.0.5', port: 6379 },
        { host: 'redis-b', port: 6380, password: 'p:w:d' },
        { host: '::1', port: 7000 },
      ],
    });
    expect(parseNodes('')).toEqual({ ok: false, error: 'at least one node: host:port[:password]' });
    expect(parseNodes('a:1\nredis-b')).toEqual({
      ok: false,
      error: 'line 2: expected host:port or host:port:password',
    });
    expect(parseNodes('a:70000')).toEqual({ ok: false, error: 'line 1: port 70000 is not 1–65535' });
  });

  it('db maps, filters and rates: the same grammar as the CLI, each problem named', () => {
    expect(parseDbMap('')).toEqual({ ok: true, value: undefined });
    expect(parseDbMap('0=0, 1=0+db1:,*=2')).toEqual({
      ok: true,
      value: [
        { source: '0', db: 0 },
        { source: '1', db: 0, prefix: 'db1:' },
        { source: '*', db: 2 },
      ],
    });
    expect(parseDbMap('0=0,0=1')).toEqual({ ok: false, error: 'source db 0 is mapped twice' });
    expect(parseDbMap('x=1').ok).toBe(false);
    expect(parseFilter('prefix:user:\n!glob:user:tmp:*\nregex:^o[0-9]+$\norder:*')).toEqual({
      ok: true,
      value: {
        include: [{ prefix: 'user:' }, { regex: '^o[0-9]+$' }, { glob: 'order:*' }],
        exclude: [{ glob: 'user:tmp:*' }],
      },
    });
    expect(parseFilter('**[[')).toEqual({ ok: false, error: 'line 1: in "**[[" the [ at 3 is never closed' });
    expect(parseFilter('regex:(').ok).toBe(false);
    expect(parseRate('', 'keys/s')).toEqual({ ok: true, value: undefined });
    expect(parseRate('-1', 'keys/s')).toEqual({ ok: false, error: 'keys/s must be a number ≥ 0' });
  });

  it('the difference report as CSV: quoted fields, missing/extra/different groups', () => {
    const rows = asDifferences([
      { kind: 'value', db: 0, key: 'a"b', targetDb: 0, targetKey: 'a"b', detail: 'string differs' },
      { kind: 'missing', db: 1, key: 'k,1', targetDb: 0, targetKey: 'db1:k,1' },
    ]);
    expect(toCsv(rows)).toBe(
      '"group","kind","db","key","target_db","target_key","detail"\r\n' +
        '"different","value","0","a""b","0","a""b","string differs"\r\n' +
        '"missing","missing","1","k,1","0","db1:k,1",""\r\n',
    );
  });

  it("a task's options back into the form and out again, unchanged", () => {
    const shown = {
      dbMap: [
        { source: '1', db: 0, prefix: 'db1:' },
        { source: '*', db: 0, prefix: null },
      ],
      filter: {
        include: [{ prefix: 'user:', glob: null, regex: null }],
        exclude: [{ prefix: null, glob: null, regex: '^tmp' }],
      },
      renamePrefix: 'n:',
      rateLimit: { keysPerSec: 500, bytesPerSec: 0 },
      writeMode: 'rewrite',
      conflict: 'replace',
    };
    const text = optionsText(shown);
    expect(text).toEqual({
      dbMap: '1=0+db1:, *=0',
      filter: 'prefix:user:\n!regex:^tmp',
      renamePrefix: 'n:',
      keysPerSec: '500',
      bytesPerSec: '',
      writeMode: 'rewrite',
      conflict: 'replace',
    });
    expect(checkOptions(text).input).toEqual({
      dbMap: [
        { source: '1', db: 0, prefix: 'db1:' },
        { source: '*', db: 0 },
      ],
      filter: { include: [{ prefix: 'user:' }], exclude: [{ regex: '^tmp' }] },
      renamePrefix: 'n:',
      rateLimit: { keysPerSec: 500, bytesPerSec: 0 },
      writeMode: 'rewrite',
      conflict: 'replace',
    });
    expect(checkOptions({ ...text, keysPerSec: 'fast' }).problems.keysPerSec).toBe(
      'keys/s must be a number ≥ 0',
    );
  });
});
