import {
  type CheckInput,
  type CheckPlugin,
  type CheckResult,
  type CheckStatus,
  type Endpoint,
  endpointName,
  type PluginContext,
  unreachableReason,
} from '@ferry/core';
import { defineCheck as sdkDefineCheck } from '@ferry/plugin-sdk';

export const META = { name: '@ferry/checks-builtin', version: '0.1.0', engine: '^0.1.0' } as const;

/**
 * A built-in check from its id, title and body (the SDK's `defineCheck` with this package's meta);
 * results get the check's id.
 */
export function defineCheck(
  id: string,
  title: string,
  run: (input: CheckInput, ctx: PluginContext) => Promise<Array<Omit<CheckResult, 'checkId'>>>,
  /** The check reads the target's servers (INFO, CONFIG, DBSIZE…), which a proxy does not let through. */
  options: { readsTarget?: boolean } = {},
): CheckPlugin {
  return sdkDefineCheck({ meta: { ...META }, id, title, run, ...options });
}

export type Result = Omit<CheckResult, 'checkId'>;

export function result(
  status: CheckStatus,
  message: string,
  extra: { advice?: string; shardId?: string; details?: Record<string, unknown> } = {},
): Result {
  return { status, message, ...extra };
}

/**
 * Runs `fn` for each node; a node that cannot be reached or refuses a command becomes a warn that
 * says what could not be verified there (connectivity reports the cause as a fail).
 */
export async function eachNode<T extends { node: Endpoint }>(
  items: T[],
  what: string,
  fn: (item: T) => Promise<Result[]>,
): Promise<Result[]> {
  const out = await Promise.all(
    items.map(async (item) => {
      try {
        return await fn(item);
      } catch (err) {
        return [
          result('warn', `could not verify ${what} on ${endpointName(item.node)}: ${unreachableReason(err)}`),
        ];
      }
    }),
  );
  return out.flat();
}

/** A Redis memory figure ("256mb", "1gb", "1048576") in bytes; undefined when unreadable. */
export function parseMemory(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\s*(b|k|kb|m|mb|g|gb)?$/i.exec(text.trim());
  if (!m) return undefined;
  const mult: Record<string, number> = {
    b: 1,
    k: 1000,
    kb: 1024,
    m: 1e6,
    mb: 1 << 20,
    g: 1e9,
    gb: 1 << 30,
  };
  return Number(m[1]) * (mult[(m[2] ?? 'b').toLowerCase()] ?? 1);
}

/** Source dbs holding keys, from INFO keyspace (`db3:keys=10,expires=0,…`). */
export function keyspaceDbs(info: Record<string, string>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [field, value] of Object.entries(info)) {
    const db = /^db(\d+)$/.exec(field);
    const keys = /keys=(\d+)/.exec(value);
    if (db && keys && Number(keys[1]) > 0) out.set(Number(db[1]), Number(keys[1]));
  }
  return out;
}
