import { describe, expect, it } from 'vitest';
import { parseClusterNodes, parseClusterShards, shardsOf } from '../src/index.js';

// CLUSTER NODES as 7.0 prints it (and 3.x's address without "@cport"), a slot moving out of the first master
const NODES_70 = [
  'aaaa000000000000000000000000000000000001 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [5461->-aaaa000000000000000000000000000000000002]',
  'aaaa000000000000000000000000000000000002 127.0.0.1:7002@17002 master - 0 1700000000000 2 connected 5461-10922 [5461-<-aaaa000000000000000000000000000000000001]',
  'aaaa000000000000000000000000000000000003 127.0.0.1:7003@17003,node3.example master - 0 1700000000000 3 connected 10923-16383',
  'bbbb000000000000000000000000000000000001 127.0.0.1:7004 slave aaaa000000000000000000000000000000000001 0 1700000000000 1 connected',
  'bbbb000000000000000000000000000000000002 127.0.0.1:7005@17005 slave,fail aaaa000000000000000000000000000000000002 0 1700000000000 2 disconnected',
  '',
].join('\n');

describe('cluster topology parsing', () => {
  it('reads CLUSTER NODES: roles, health, slots, migrations, old and new address forms', () => {
    const v = parseClusterNodes(NODES_70, '10.0.0.1');
    expect(v.nodes.map((n) => [n.port, n.role, n.healthy])).toEqual([
      [7001, 'master', true],
      [7002, 'master', true],
      [7003, 'master', true],
      [7004, 'replica', true],
      [7005, 'replica', false],
    ]);
    expect(v.nodes[2]?.host).toBe('127.0.0.1');
    expect(v.moving).toEqual([
      {
        slot: 5461,
        from: 'aaaa000000000000000000000000000000000001',
        to: 'aaaa000000000000000000000000000000000002',
      },
    ]);
    const shards = shardsOf(v);
    expect(shards.map((s) => [s.master.port, s.replicas.map((r) => r.port)])).toEqual([
      [7001, [7004]],
      [7002, [7005]],
      [7003, []],
    ]);
  });

  it('refuses a cluster that does not serve every slot, naming the slots and failed masters', () => {
    const partial = NODES_70.replace('10923-16383', '10923-16000');
    expect(() => shardsOf(parseClusterNodes(partial, 'h'))).toThrow(
      /383 slot\(s\) \(16001-16383\) have no master/,
    );
    const failed = NODES_70.replace(
      'master - 0 1700000000000 3 connected',
      'master,fail - 0 1700000000000 3 connected',
    );
    expect(() => shardsOf(parseClusterNodes(failed, 'h'))).toThrow(
      /5461 slot\(s\).*failed master\(s\) 127\.0\.0\.1:7003/,
    );
  });

  it('reads CLUSTER SHARDS (RESP2 flat maps) with the seed host for nodes without an ip', () => {
    const b = (s: string): Buffer => Buffer.from(s);
    const reply = [
      [
        b('slots'),
        [0, 16383],
        b('nodes'),
        [
          [
            b('id'),
            b('m1'),
            b('port'),
            7001,
            b('ip'),
            b(''),
            b('role'),
            b('master'),
            b('health'),
            b('online'),
          ],
          [
            b('id'),
            b('r1'),
            b('port'),
            7002,
            b('ip'),
            b('127.0.0.2'),
            b('role'),
            b('replica'),
            b('health'),
            b('loading'),
          ],
        ],
      ],
    ];
    const v = parseClusterShards(reply, '10.0.0.9');
    expect(v.nodes.map((n) => [n.id, n.host, n.port, n.role, n.masterId, n.healthy])).toEqual([
      ['m1', '10.0.0.9', 7001, 'master', undefined, true],
      ['r1', '127.0.0.2', 7002, 'replica', 'm1', false],
    ]);
    expect(shardsOf(v)[0]?.master.slots).toEqual([[0, 16383]]);
  });
});
