import type { FerryPlugin } from '@ferry/core';
import { describeOptions, type OptionField } from '@ferry/plugin-sdk';
import { Field, Float, InputType, Int } from 'type-graphql';

/**
 * `SourceInput.options`: one typed input per source topology, made from the topology's options
 * schema when the schema is built — a plugin that brings a topology brings its GraphQL input, with
 * no edit here. The options every server topology shares (nodes, password, preferReplica) stay on
 * `SourceInput` itself.
 */

type ClassType = new () => object;

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');
}

/** The field's name in `SourceOptionsInput` ("twemproxy", "redisSentinel"). */
export function topologyField(topology: string): string {
  const p = pascal(topology);
  return p[0]?.toLowerCase() + p.slice(1);
}

function graphqlType(f: OptionField): () => unknown {
  switch (f.type) {
    case 'string-list':
      return () => [String];
    case 'number':
      return () => Float;
    case 'integer':
      return () => Int;
    case 'boolean':
      return () => Boolean;
    default:
      return () => String;
  }
}

function describe(f: OptionField): string {
  const extra = [
    f.enum ? `one of ${f.enum.join(', ')}` : '',
    f.default !== undefined ? `default ${JSON.stringify(f.default)}` : '',
    f.path ? "a path on the gateway's machine" : '',
    f.secret ? 'write-only: stored sealed, never returned' : '',
  ].filter(Boolean);
  return `${f.description || f.name}${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

/** The fields a topology's input has: its own options, not the shared ones. */
export function ownFields(fields: OptionField[]): OptionField[] {
  return fields.filter((f) => !f.role);
}

// Classes are made once per shape: type-graphql keeps every decorated class, and a second class
// under the same GraphQL name would clash in a process that builds the schema again.
const made = new Map<string, ClassType>();

function inputClass(
  name: string,
  description: string,
  fields: Array<[string, () => unknown, object]>,
): ClassType {
  const key = `${name}|${JSON.stringify(fields.map(([n, t, o]) => [n, String(t()), o]))}`;
  const known = made.get(key);
  if (known) return known;
  const cls = { [name]: class {} }[name] as ClassType;
  for (const [field, type, options] of fields) Field(type as never, options)(cls.prototype, field);
  InputType(name, { description })(cls);
  made.set(key, cls);
  return cls;
}

let current: ClassType | undefined;
let currentFields = new Map<string, { topology: string; fields: OptionField[] }>();

/**
 * Makes `SourceOptionsInput` for these plugins; call before building the schema. Returns the
 * topologies it holds, by field name.
 */
export function defineSourceOptions(
  plugins: FerryPlugin[],
): Map<string, { topology: string; fields: OptionField[] }> {
  const byField = new Map<string, { topology: string; fields: OptionField[] }>();
  const topologyInputs: Array<[string, () => unknown, object]> = [];
  for (const p of plugins) {
    if (p.kind !== 'source-topology' || !p.options) continue;
    const fields = ownFields(describeOptions(p.options, p.topology));
    if (fields.length === 0) continue;
    const cls = inputClass(
      `${pascal(p.topology)}SourceOptions`,
      `The ${p.topology} source's own options (${p.meta.name}).`,
      fields.map((f) => [f.name, graphqlType(f), { nullable: !f.required, description: describe(f) }]),
    );
    const name = topologyField(p.topology);
    byField.set(name, { topology: p.topology, fields });
    topologyInputs.push([
      name,
      () => cls,
      { nullable: true, description: `Options of a ${p.topology} source.` },
    ]);
  }
  if (topologyInputs.length === 0)
    topologyInputs.push([
      'none',
      () => Boolean,
      { nullable: true, description: 'No topology has options of its own.' },
    ]);
  currentFields = byField;
  current = inputClass(
    'SourceOptionsInput',
    "The source topology's own options: give the one named by `topology` (the others are refused).",
    topologyInputs,
  );
  return byField;
}

/** `SourceOptionsInput`, for `SourceInput.options` (made by `defineSourceOptions`). */
export function sourceOptionsInput(): ClassType {
  if (!current) throw new Error('defineSourceOptions must run before the schema is built');
  return current;
}

/** The topologies `SourceOptionsInput` holds, by field name, with their options. */
export function sourceOptionFields(): Map<string, { topology: string; fields: OptionField[] }> {
  return currentFields;
}
