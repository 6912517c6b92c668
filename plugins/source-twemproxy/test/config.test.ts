import { describe, expect, it } from 'vitest';
import { parseNutcracker, parseServer, sourceTwemproxy } from '../src/index.js';

// the shape of twemproxy's own conf/nutcracker.yml: several pools, one of them memcached
const CONF = `
alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  redis: true
  redis_auth: "s3cr:et"
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:6379:1 server1
   - 127.0.0.1:6380:1 server2

beta:
  listen: 127.0.0.1:22122
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  redis: true
  servers:
   - 10.0.0.1:6381:1
   - 10.0.0.2:6382:2

gamma:
  listen: 127.0.0.1:22123
  hash: fnv1a_64
  distribution: ketama
  servers:
   - 127.0.0.1:11212:1
`;

describe('nutcracker.yml', () => {
  it('reads the pool asked for, with names, weights and redis_auth', () => {
    expect(parseNutcracker(CONF, 'alpha')).toEqual({
      name: 'alpha',
      redisAuth: 's3cr:et',
      redisDb: 0,
      servers: [
        { host: '127.0.0.1', port: 6379, weight: 1, name: 'server1' },
        { host: '127.0.0.1', port: 6380, weight: 1, name: 'server2' },
      ],
    });
    expect(parseNutcracker(CONF, 'beta').servers.map((s) => [s.host, s.port, s.weight, s.name])).toEqual([
      ['10.0.0.1', 6381, 1, undefined],
      ['10.0.0.2', 6382, 2, undefined],
    ]);
  });

  it('refuses what cannot be migrated, saying why', () => {
    expect(() => parseNutcracker(CONF, undefined)).toThrow(
      /3 pools \(alpha, beta, gamma\): choose one with pool/,
    );
    expect(() => parseNutcracker(CONF, 'delta')).toThrow(/no pool "delta"/);
    expect(() => parseNutcracker(CONF, 'gamma')).toThrow(/memcached pool/);
    expect(() => parseNutcracker('a: [', undefined)).toThrow(/not valid YAML/);
    expect(() => parseNutcracker('p:\n  redis: true\n  servers: []\n', undefined)).toThrow(
      /lists no servers/,
    );
    expect(() =>
      parseNutcracker('p:\n  redis: true\n  servers:\n   - 1.1.1.1:1:1 a\n   - 1.1.1.2:1:1 a\n', undefined),
    ).toThrow(/lists a twice/);
    expect(() => parseServer('/tmp/redis.sock:1', 's')).toThrow(/unix socket/);
    expect(() => parseServer('127.0.0.1:6379', 's')).toThrow(/not "host:port:weight \[name\]"/);
    expect(() => parseServer('127.0.0.1:70000:1', 's')).toThrow(/port 70000/);
  });

  it('turns a pool into one backend per server, with redis_auth as their password unless one is given', () => {
    const p = sourceTwemproxy();
    expect(p.parseOptions({ configText: CONF, pool: 'alpha' })).toEqual({
      pool: 'alpha',
      backends: [
        { name: 'server1', endpoint: { host: '127.0.0.1', port: 6379, password: 's3cr:et' } },
        { name: 'server2', endpoint: { host: '127.0.0.1', port: 6380, password: 's3cr:et' } },
      ],
    });
    expect(p.parseOptions({ configText: CONF, pool: 'beta', password: 'pw' }).backends[1]).toEqual({
      name: '10.0.0.2:6382',
      endpoint: { host: '10.0.0.2', port: 6382, password: 'pw' },
    });
    expect(
      p.parseOptions({ nodes: '10.0.0.1:6379:a 10.0.0.2:6379' }).backends.map((b) => b.endpoint),
    ).toEqual([
      { host: '10.0.0.1', port: 6379, password: 'a' },
      { host: '10.0.0.2', port: 6379 },
    ]);
  });
});
