import { FerryError, type FerryErrorCode } from '@ferry/errors';
import type { CheckPlugin, FerryPlugin, SourceTopologyPlugin, TransformPlugin } from '@ferry/plugin-sdk';

// The contracts plugins are written against live in @ferry/plugin-sdk; the engine re-exports them.
export type {
  Awaitable,
  CheckInput,
  CheckPlugin,
  CheckResult,
  CheckStatus,
  FerryPlugin,
  Logger,
  PluginContext,
  PluginEvents,
  PluginMeta,
  ShardSpec,
  SourceTopologyPlugin,
  TopologyChange,
  TransformPlugin,
} from '@ferry/plugin-sdk';

/** This package's version, which plugins' `engine` ranges are checked against. */
export const CORE_VERSION = '0.1.0';

function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** The subset of semver ranges plugins use: `*`, `x.y.z`, `^x.y.z`, `~x.y.z`, `>=x.y.z`, `x.x`, and `a || b`. */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  if (!v) return false;
  return range.split('||').some((alt) => {
    const r = alt.trim();
    if (r === '*' || r === '') return true;
    const x = /^(\d+)(?:\.(\d+|x))?(?:\.x)?$/.exec(r);
    if (x) return v[0] === Number(x[1]) && (x[2] === undefined || x[2] === 'x' || v[1] === Number(x[2]));
    const m = /^(\^|~|>=|>|<=|<|=)?\s*(\d+\.\d+\.\d+)$/.exec(r);
    if (!m) return false;
    const b = parseVersion(m[2] as string) as [number, number, number];
    const c = cmp(v, b);
    switch (m[1]) {
      case '^':
        return (
          c >= 0 && (b[0] > 0 ? v[0] === b[0] : b[1] > 0 ? v[0] === 0 && v[1] === b[1] : cmp(v, b) === 0)
        );
      case '~':
        return c >= 0 && v[0] === b[0] && v[1] === b[1];
      case '>=':
        return c >= 0;
      case '>':
        return c > 0;
      case '<=':
        return c <= 0;
      case '<':
        return c < 0;
      default:
        return c === 0;
    }
  });
}

/**
 * A plugin's error as the engine's: a `PluginError` from the SDK (which depends on nothing of the
 * engine's) keeps its code; anything else passes unchanged.
 */
export function asFerryError(err: unknown): unknown {
  if (err instanceof FerryError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  if ((err.name === 'PluginError' || err.name === 'OptionsError') && typeof code === 'string')
    return new FerryError(code as FerryErrorCode, err.message, { cause: err });
  return err;
}

/** The plugin with its errors (options, discovery, watching) under the engine's codes. */
function withCodedErrors<O>(plugin: SourceTopologyPlugin<O>): SourceTopologyPlugin<O> {
  const { watch } = plugin;
  return {
    ...plugin,
    parseOptions(raw) {
      try {
        return plugin.parseOptions(raw);
      } catch (err) {
        throw asFerryError(err);
      }
    },
    discover: (opts, ctx) =>
      plugin.discover(opts, ctx).catch((err: unknown) => {
        throw asFerryError(err);
      }),
    ...(watch
      ? {
          async *watch(opts, ctx) {
            try {
              yield* watch.call(plugin, opts, ctx);
            } catch (err) {
              throw asFerryError(err);
            }
          },
        }
      : {}),
  };
}

/** Registered plugins by kind; duplicates and engine-version mismatches are refused with coded errors. */
export class PluginRegistry {
  private readonly topologies = new Map<string, SourceTopologyPlugin<unknown>>();
  private readonly checkList = new Map<string, CheckPlugin>();
  private readonly transformList = new Map<string, TransformPlugin>();

  register(plugin: FerryPlugin): void {
    const meta = plugin?.meta;
    if (!meta || typeof meta.name !== 'string' || typeof meta.engine !== 'string')
      throw new FerryError('CONFIG_INVALID', 'a plugin needs meta { name, version, engine }');
    if (!satisfies(CORE_VERSION, meta.engine)) {
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin ${meta.name}@${meta.version} needs @ferry/core ${meta.engine}; this is ${CORE_VERSION}`,
      );
    }
    if (plugin.kind === 'source-topology') {
      const prev = this.topologies.get(plugin.topology);
      if (prev)
        throw new FerryError(
          'CONFIG_INVALID',
          `source topology "${plugin.topology}" is registered twice (${prev.meta.name} and ${meta.name})`,
        );
      this.topologies.set(plugin.topology, withCodedErrors(plugin));
    } else if (plugin.kind === 'check') {
      const prev = this.checkList.get(plugin.id);
      if (prev)
        throw new FerryError(
          'CONFIG_INVALID',
          `check "${plugin.id}" is registered twice (${prev.meta.name} and ${meta.name})`,
        );
      this.checkList.set(plugin.id, plugin);
    } else if (plugin.kind === 'transform') {
      const prev = this.transformList.get(plugin.id);
      if (prev)
        throw new FerryError(
          'CONFIG_INVALID',
          `transform "${plugin.id}" is registered twice (${prev.meta.name} and ${meta.name})`,
        );
      this.transformList.set(plugin.id, plugin);
    } else {
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin ${meta.name} has an unknown kind ${JSON.stringify((plugin as { kind: unknown }).kind)}`,
      );
    }
  }

  topology(name: string): SourceTopologyPlugin<unknown> {
    const p = this.topologies.get(name);
    if (!p) {
      throw new FerryError(
        'CONFIG_INVALID',
        `no source topology "${name}" is registered (have: ${[...this.topologies.keys()].join(', ') || 'none'})`,
      );
    }
    return p;
  }

  /** A transform by id; an unknown one is refused naming those there are. */
  transform(id: string): TransformPlugin {
    const t = this.transformList.get(id);
    if (!t)
      throw new FerryError(
        'CONFIG_INVALID',
        `no transform "${id}" is registered (have: ${[...this.transformList.keys()].join(', ') || 'none'}): load the plugin that brings it (--plugin, FERRY_PLUGINS)`,
      );
    return t;
  }

  transforms(): TransformPlugin[] {
    return [...this.transformList.values()];
  }

  checks(): CheckPlugin[] {
    return [...this.checkList.values()];
  }

  /** Every registered source topology. */
  sourceTopologies(): SourceTopologyPlugin<unknown>[] {
    return [...this.topologies.values()];
  }
}
