import { type RedisCluster, type StartClusterOptions, startCluster } from './servers/cluster.js';
import { type RedisServer, type StartRedisOptions, startRedis } from './servers/redis.js';

/** The servers one test file starts, stopped together: `afterAll(() => servers.stop())`. */
export interface ServerScope {
  /** Starts a redis-server that stop() stops. */
  redis(options?: StartRedisOptions): Promise<RedisServer>;
  /** Starts a cluster that stop() stops. */
  cluster(options?: StartClusterOptions): Promise<RedisCluster>;
  /** Anything else with a stop() (a replica, a twemproxy), stopped with the rest; returns it. */
  adopt<T extends { stop(): Promise<void> }>(started: T): T;
  /** Stops everything started through the scope, concurrently. */
  stop(): Promise<void>;
}

export function serverScope(): ServerScope {
  const started: Array<{ stop(): Promise<void> }> = [];
  const adopt = <T extends { stop(): Promise<void> }>(s: T): T => {
    started.push(s);
    return s;
  };
  return {
    redis: async (options = {}) => adopt(await startRedis(options)),
    cluster: async (options = {}) => adopt(await startCluster(options)),
    adopt,
    stop: async () => {
      await Promise.all(started.splice(0).map((s) => s.stop()));
    },
  };
}
