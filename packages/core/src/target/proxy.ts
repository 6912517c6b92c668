import type { ProxyKind } from '@ferry/plugin-sdk';

/**
 * What a proxy target takes. twemproxy 0.5 closes the connection on a command it does not know
 * (so sending one would look like a dead target); codis-proxy answers an error for the ones it
 * refuses. Either way Ferry must not send them: it reports them instead.
 */
export type { ProxyKind };

// twemproxy 0.5.0, notes/redis.md (the Debian package's /usr/share/doc/nutcracker/redis.md): "Yes"
const TWEMPROXY = new Set(
  (
    'del dump exists expire expireat persist pexpire pexpireat pttl restore sort ttl type append bitcount bitfield ' +
    'bitpos decr decrby get getbit getdel getex getrange getset incr incrby incrbyfloat mget mset psetex set setbit ' +
    'setex setnx setrange strlen hdel hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hset hsetnx ' +
    'hvals hscan lindex linsert llen lmove lpop lpos lpush lpushx lrange lrem lset ltrim rpop rpush rpushx sadd scard ' +
    'sismember smembers smismember spop srandmember srem sscan zadd zcard zcount zincrby zlexcount zmscore zpopmax ' +
    'zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore zrank zrem zremrangebylex zremrangebyrank ' +
    'zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore pfadd pfcount geoadd geodist ' +
    'geohash geopos georadius georadiusbymember geosearch geosearchstore ping'
  ).split(' '),
);
// …"Yes*": only when every key is on one backend
const TWEMPROXY_ONE_SERVER = new Set(
  (
    'rpoplpush sdiff sdiffstore sinter sinterstore smove sunion sunionstore zdiff zdiffstore zinter zinterstore ' +
    'zunion zunionstore pfmerge eval evalsha'
  ).split(' '),
);
// codis-proxy 3.2, pkg/proxy/mapper.go: FlagNotAllow (anything not in its table is passed through)
const CODIS_REFUSED = new Set(
  (
    'bgrewriteaof bgsave bitop blpop brpop brpoplpush client config dbsize debug discard exec flushall flushdb keys ' +
    'lastsave latency migrate monitor move msetnx multi object psubscribe psync publish punsubscribe randomkey rename ' +
    'renamenx replconf restore save scan script shutdown slaveof slotscheck slotsdel slotsmgrtone slotsmgrtslot ' +
    'slotsmgrttagone slotsmgrttagslot slowlog subscribe sync time unsubscribe unwatch watch swapdb function'
  ).split(' '),
);
/** Commands with several keys that both proxies split by key themselves. */
const SPLIT_BY_PROXY = new Set(['del', 'mget', 'mset', 'exists', 'unlink']);

function hashTag(key: Buffer): Buffer {
  const open = key.indexOf(0x7b);
  if (open < 0) return key;
  const close = key.indexOf(0x7d, open + 1);
  return close > open + 1 ? key.subarray(open + 1, close) : key;
}

/**
 * undefined when the proxy takes `name` with these keys; else why not. Commands with several keys
 * go only when the proxy routes them to one server: the same key (twemproxy's hash_tag is
 * optional), or the same `{tag}` on codis (which always hashes by it).
 */
export function proxyRefuses(
  kind: ProxyKind,
  name: string,
  keys: Buffer[],
  maxKeyBytes = Number.POSITIVE_INFINITY,
): string | undefined {
  for (const k of keys)
    if (k.length > maxKeyBytes)
      return `its key is ${k.length} bytes, longer than the ${kind} proxy takes (${maxKeyBytes})`;
  if (kind === 'twemproxy') {
    if (!TWEMPROXY.has(name) && !TWEMPROXY_ONE_SERVER.has(name) && name !== 'unlink')
      return `twemproxy does not support ${name.toUpperCase()}`;
  } else if (CODIS_REFUSED.has(name)) return `codis-proxy does not allow ${name.toUpperCase()}`;
  if (keys.length > 1 && !SPLIT_BY_PROXY.has(name)) {
    const first = kind === 'codis' ? hashTag(keys[0] as Buffer) : (keys[0] as Buffer);
    const together = keys.every((k) => (kind === 'codis' ? hashTag(k) : k).equals(first));
    if (!together) return `${name.toUpperCase()} names keys the ${kind} proxy may place on different servers`;
  }
  return undefined;
}

/**
 * twemproxy refuses a key that does not fit in one of its buffers (mbuf, 16 384 bytes by default,
 * `-m`), less its header: "key length … greater than or equal to maximum redis key length of
 * 16336" in its log, and the connection is reset. Measured on nutcracker 0.5.0.
 */
export const TWEMPROXY_MAX_KEY_BYTES = 16_335;

/** The command as the proxy takes it (twemproxy 0.5 documents DEL, not UNLINK). */
export function proxyName(kind: ProxyKind, name: string): string {
  return kind === 'twemproxy' && name === 'unlink' ? 'DEL' : name;
}
