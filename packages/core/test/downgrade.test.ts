/**
 * Newer stream commands rewritten for older targets, in the forms the sources propagate them (Redis
 * 8.6.3's and Valkey 9.1.2's t_hash.c / t_stream.c: HSETEX with PXAT or KEEPTTL, HPEXPIREAT,
 * HPERSIST, XADD with IDMP and the ID filled in, or still `*` for a duplicate). The real servers'
 * streams go through this in apps/cli/test/newer-servers.test.ts where those builds exist.
 */
import { describe, expect, it } from 'vitest';
import { downgradeCommand, downgradeTarget } from '../src/downgrade.js';
import { serverIdentity } from '../src/server-identity.js';
import { compareVersions } from '../src/versions.js';

const argv = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));
const text = (r: ReturnType<typeof downgradeCommand>): string[][] | undefined =>
  r?.argvs.map((c) => c.map((x) => x.toString()));
const redis70 = { hsetex: false, fieldTtl: false, idmp: false };
const redis74 = { hsetex: false, fieldTtl: true, idmp: false };
const redis80 = { hsetex: true, fieldTtl: true, idmp: false };
const redis86 = { hsetex: true, fieldTtl: true, idmp: true };

describe('stream commands for older targets', () => {
  it('knows which targets lack what', () => {
    const w = (info: string) => {
      const identity = serverIdentity(info);
      const fieldTtl =
        compareVersions(identity.version, identity.product === 'valkey' ? '9.0.0' : '7.4.0') >= 0;
      return downgradeTarget({ identity, version: identity.version, fieldTtl });
    };
    expect(w('redis_version:7.0.15\r\n')).toEqual(redis70);
    expect(w('redis_version:8.0.2\r\n')).toEqual(redis80);
    expect(w('redis_version:8.6.3\r\n')).toEqual(redis86);
    expect(w('redis_version:8.6.1\r\n')).toEqual(redis80); // XIDMPRECORD came in 8.6.2
    expect(w('redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n')).toEqual(redis80);
    expect(w('redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n')).toEqual(redis70);
  });

  it('HSETEX becomes HSET (and HPEXPIREAT where field TTLs are kept); the TTL-only commands go only there', () => {
    const setex = argv('HSETEX', 'h', 'FNX', 'PXAT', '1796553683740', 'FIELDS', '2', 'a', '1', 'b', '2');
    const on70 = downgradeCommand('hsetex', setex, redis70);
    expect(text(on70)).toEqual([['HSET', 'h', 'a', '1', 'b', '2']]);
    expect(on70?.warning).toMatch(/field expirations need Redis 7\.4/);
    expect(text(downgradeCommand('hsetex', setex, redis74))).toEqual([
      ['HSET', 'h', 'a', '1', 'b', '2'],
      ['HPEXPIREAT', 'h', '1796553683740', 'FIELDS', '2', 'a', 'b'],
    ]);
    expect(downgradeCommand('hsetex', setex, redis80)).toBeUndefined();
    // Redis 8's HINCRBYFLOAT, propagated on a hash without TTLs: an HSET, nothing to say on 7.0
    const incr = downgradeCommand(
      'hsetex',
      argv('HSETEX', 'h', 'KEEPTTL', 'FIELDS', '1', 'f', '1.5'),
      redis70,
    );
    expect(text(incr)).toEqual([['HSET', 'h', 'f', '1.5']]);
    expect(incr?.warning).toBeUndefined();
    const expireAt = argv('HPEXPIREAT', 'h', '1796553683740', 'FIELDS', '1', 'a');
    expect(downgradeCommand('hpexpireat', expireAt, redis70)).toMatchObject({ argvs: [] });
    expect(downgradeCommand('hpexpireat', expireAt, redis74)).toBeUndefined();
    expect(downgradeCommand('hpersist', argv('HPERSIST', 'h', 'FIELDS', '1', 'a'), redis70)?.argvs).toEqual(
      [],
    );
    expect(text(downgradeCommand('hgetdel', argv('HGETDEL', 'h', 'FIELDS', '2', 'a', 'b'), redis70))).toEqual(
      [['HDEL', 'h', 'a', 'b']],
    );
    // not a form the sources propagate: left for the target to refuse, naming it
    expect(downgradeCommand('hsetex', argv('HSETEX', 'h', 'FIELDS', '3', 'a', '1'), redis70)).toBeUndefined();
  });

  it('XADD with IDMP: an entry the source added keeps its ID without the IDMP arguments; a duplicate adds nothing', () => {
    const added = argv('XADD', 's', 'IDMP', 'p1', 'i3', 'MAXLEN', '~', '1000', '1796553583747-0', 'c', '3');
    const r = downgradeCommand('xadd', added, redis80);
    expect(text(r)).toEqual([['XADD', 's', 'MAXLEN', '~', '1000', '1796553583747-0', 'c', '3']]);
    expect(r?.warning).toMatch(/IDMP\) state needs Redis 8\.6\.2/);
    // only a replica may send IDMP with an ID: the target that keeps producers gets XIDMPRECORD
    const on86 = downgradeCommand('xadd', added, redis86);
    expect(text(on86)).toEqual([
      ['XADD', 's', 'MAXLEN', '~', '1000', '1796553583747-0', 'c', '3'],
      ['XIDMPRECORD', 's', 'p1', 'i3', '1796553583747-0'],
    ]);
    expect(on86?.warning).toBeUndefined();
    expect(
      downgradeCommand('xadd', argv('XADD', 's', 'IDMPAUTO', 'p1', '9-1', 'c', '3'), redis86)?.warning,
    ).toMatch(/IDMPAUTO was written without it/);
    expect(downgradeCommand('xcfgset', argv('XCFGSET', 's', 'IDMP-DURATION', '10'), redis70)?.argvs).toEqual(
      [],
    );
    expect(downgradeCommand('xcfgset', argv('XCFGSET', 's', 'IDMP-DURATION', '10'), redis86)).toBeUndefined();
    expect(
      text(downgradeCommand('xadd', argv('XADD', 's', 'IDMPAUTO', 'p1', '*', 'c', '3'), redis70)),
    ).toEqual([]);
    expect(
      text(
        downgradeCommand('xadd', argv('XADD', 's', 'NOMKSTREAM', 'IDMP', 'p', 'i', '*', 'c', '3'), redis70),
      ),
    ).toEqual([]);
    expect(downgradeCommand('xadd', argv('XADD', 's', '1-1', 'a', '1'), redis70)).toBeUndefined();
  });
});
