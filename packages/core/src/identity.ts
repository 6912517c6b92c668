import { FerryError } from '@ferry/errors';
import { type Endpoint, endpointName } from './endpoint.js';
import type { ResolvedOptions } from './options.js';

/**
 * What decides what ends up on the target, as readable text per setting: source and target
 * identity, topology options, db map, filter, rename prefix, write mode. A checkpoint records it,
 * and a resume under other settings is refused (a checkpoint belongs to what produced it).
 * Passwords, rate limits and threads are left out: they change how, not what.
 */
export type TaskIdentity = Record<string, string>;

export interface IdentityInput {
  source: { topology: string; options: unknown };
  target: { endpoint: Endpoint; cluster?: boolean; proxy?: string };
}

/** JSON with sorted keys and without secrets, so equal settings always read the same. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x) && !Buffer.isBuffer(x)) {
      const o = x as Record<string, unknown>;
      // an endpoint names itself host:port; its password and TLS files are not what is migrated
      if (typeof o.host === 'string' && typeof o.port === 'number')
        return endpointName(o as unknown as Endpoint);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o).sort()) if (k !== 'password' && k !== 'tls') out[k] = o[k];
      return out;
    }
    return x;
  });
}

export function taskIdentity(spec: IdentityInput, o: ResolvedOptions): TaskIdentity {
  const t = spec.target;
  const { include = [], exclude = [] } = o.filter;
  const filter =
    include.length + exclude.length > 0
      ? { ...(include.length ? { include } : {}), ...(exclude.length ? { exclude } : {}) }
      : undefined;
  return {
    source: `${spec.source.topology} ${stable(spec.source.options)}`,
    target: `${endpointName(t.endpoint)}${t.cluster ? ' (cluster)' : ''}${t.proxy ? ` (${t.proxy})` : ''}`,
    'db map': o.dbMap ? stable(o.dbMap) : '(none)',
    filter: filter ? stable(filter) : '(none)',
    'rename prefix': o.renamePrefix ? JSON.stringify(o.renamePrefix) : '(none)',
    'write mode': o.writeMode,
    'reserved prefix': o.reservedPrefix,
    // only when there are some: a checkpoint from before transforms existed has none
    ...(o.transforms.length > 0 ? { transforms: o.transforms.join(', ') } : {}),
  };
}

/** The settings that differ, as "name: then → now" (empty: the same). */
export function identityChanges(then: TaskIdentity, now: TaskIdentity): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(then), ...Object.keys(now)])) {
    if (then[k] !== now[k]) out.push(`${k}: ${then[k] ?? '(not recorded)'} → ${now[k] ?? '(none)'}`);
  }
  return out;
}

/** Refuses to resume a checkpoint made under other settings, naming each difference. */
export function assertSameIdentity(taskId: string, then: TaskIdentity | undefined, now: TaskIdentity): void {
  if (!then) return; // a checkpoint from before identities were recorded
  const changes = identityChanges(then, now);
  if (changes.length === 0) return;
  throw new FerryError(
    'CHECKPOINT_MISMATCH',
    `task ${taskId} has a checkpoint made with other settings (${changes.join('; ')}): resuming it would leave the target with what those settings copied. Run with the same settings to resume, or start over explicitly (the CLI's --fresh, the API's restartTask), which drops the checkpoint and follows the conflict policy`,
    { details: { changes } },
  );
}
