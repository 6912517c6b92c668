import type { z } from 'zod';
import { describeOptions, type OptionsSchema, parseWithSchema } from './options-schema.js';
import type {
  CheckInput,
  CheckPlugin,
  CheckResult,
  PluginContext,
  PluginMeta,
  SourceTopologyPlugin,
  TransformPlugin,
} from './plugin.js';

function needMeta(meta: PluginMeta | undefined, what: string): void {
  if (
    !meta ||
    typeof meta.name !== 'string' ||
    typeof meta.version !== 'string' ||
    typeof meta.engine !== 'string'
  )
    throw new TypeError(`${what} needs meta { name, version, engine }`);
}

/**
 * A source topology from its parts. With an `options` schema and no `parseOptions`, the options
 * are parsed by the schema (its output type is `O`); the schema is checked here, so a field the
 * apps could not ask for fails when the plugin is defined, not when a user runs it.
 */
export function defineSourceTopology<S extends OptionsSchema, O = z.output<S>>(
  def: Omit<SourceTopologyPlugin<O>, 'kind' | 'parseOptions' | 'options'> & {
    options: S;
    parseOptions?: (raw: unknown) => O;
  },
): SourceTopologyPlugin<O> {
  needMeta(def.meta, `source topology "${def.topology}"`);
  if (!/^[a-z][a-z0-9-]*$/.test(def.topology))
    throw new TypeError(`a topology's name is lower case letters, digits and dashes: "${def.topology}"`);
  describeOptions(def.options, def.topology); // throws on a field no app can ask for
  return {
    ...def,
    kind: 'source-topology',
    parseOptions: def.parseOptions ?? ((raw) => parseWithSchema(def.options, raw, def.topology) as O),
  };
}

/** A key transform from its parts; its id is checked here. */
export function defineTransform(def: Omit<TransformPlugin, 'kind'>): TransformPlugin {
  needMeta(def.meta, `transform "${def.id}"`);
  if (!/^[a-z][a-z0-9-]*$/.test(def.id))
    throw new TypeError(`a transform's id is lower case letters, digits and dashes: "${def.id}"`);
  if (typeof def.key !== 'function') throw new TypeError(`transform "${def.id}" needs key(key, db)`);
  return { ...def, kind: 'transform' };
}

/** A check's result before its id is added. */
export type CheckFinding = Omit<CheckResult, 'checkId'>;

/**
 * A precheck from its id, title and body; every result gets the check's id. `readsTarget`: the check
 * reads the target's servers (INFO, CONFIG, DBSIZE…), which a proxy target does not let through —
 * it then warns that it could not check instead of running.
 */
export function defineCheck(def: {
  meta: PluginMeta;
  id: string;
  title: string;
  readsTarget?: boolean;
  run(input: CheckInput, ctx: PluginContext): Promise<CheckFinding[]>;
}): CheckPlugin {
  needMeta(def.meta, `check "${def.id}"`);
  if (!/^[a-z][a-z0-9-]*$/.test(def.id))
    throw new TypeError(`a check's id is lower case letters, digits and dashes: "${def.id}"`);
  const { id, title } = def;
  return {
    kind: 'check',
    meta: def.meta,
    id,
    title,
    async run(input, ctx) {
      if (def.readsTarget && input.targetProxy)
        return [
          {
            checkId: id,
            status: 'warn',
            message: `the target is a ${input.targetProxy} proxy: "${title}" cannot be checked through it`,
            advice: `run the precheck against the ${input.targetProxy} servers themselves (or check this by hand) before starting`,
            details: { proxy: input.targetProxy },
          },
        ];
      return (await def.run(input, ctx)).map((r) => ({ checkId: id, ...r }));
    },
  };
}
