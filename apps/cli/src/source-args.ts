import { resolve } from 'node:path';
import {
  asFerryError,
  type Endpoint,
  endpointName,
  type FerryPlugin,
  type SourceTopologyPlugin,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { describeOptions, type OptionField } from '@ferry/plugin-sdk';
import { wrapText } from './text.js';

/**
 * The source options the CLI asks for, made from each source topology's options schema: a plugin
 * that brings a topology brings its flags, its help and its config-file keys with it.
 */
export interface SourceFlags {
  /** Per topology (in registration order): its options as the apps ask for them. */
  topologies: Array<{ plugin: SourceTopologyPlugin<unknown>; fields: OptionField[] }>;
  /** The flags of those options (one per name; topologies may share one). */
  flags: Map<string, { type: OptionField['type']; owners: Array<{ topology: string; field: OptionField }> }>;
}

/** The topologies' options and their flags; a plugin's option may not take a `reserved` flag. */
export function sourceFlags(plugins: FerryPlugin[], reserved: ReadonlySet<string>): SourceFlags {
  const topologies: SourceFlags['topologies'] = [];
  const flags: SourceFlags['flags'] = new Map();
  for (const p of plugins) {
    if (p.kind !== 'source-topology') continue;
    const fields = p.options ? describeOptions(p.options, p.topology) : [];
    topologies.push({ plugin: p, fields });
    for (const field of fields) {
      if (field.role || field.flag === false) continue;
      if (reserved.has(field.flag))
        throw new FerryError(
          'CONFIG_INVALID',
          `plugin ${p.meta.name}: its option "${field.name}" would take the flag --${field.flag}, which is Ferry's own; give it another (meta flag)`,
        );
      const known = flags.get(field.flag);
      if (known && known.type !== field.type)
        throw new FerryError(
          'CONFIG_INVALID',
          `plugin ${p.meta.name}: --${field.flag} is already a ${known.type} option of ${known.owners.map((o) => o.topology).join(', ')}; its "${field.name}" is a ${field.type}`,
        );
      const entry = known ?? { type: field.type, owners: [] };
      entry.owners.push({ topology: p.topology, field });
      flags.set(field.flag, entry);
    }
  }
  return { topologies, flags };
}

/** parseArgs options for the plugins' flags. */
export function sourceFlagOptions(
  s: SourceFlags,
): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [flag, { type }] of s.flags)
    out[flag] =
      type === 'boolean'
        ? { type: 'boolean' }
        : type === 'string-list'
          ? { type: 'string', multiple: true }
          : { type: 'string' };
  return out;
}

/** Help lines for the plugins' flags, each saying which topology takes it. */
export function sourceFlagUsage(s: SourceFlags): string {
  const rows: string[] = [];
  for (const [flag, { type, owners }] of s.flags) {
    const f = (owners[0] as { field: OptionField }).field;
    const value =
      type === 'boolean' ? '' : ` ${f.placeholder ?? (type === 'string-list' ? 'VALUE' : 'VALUE')}`;
    const head = `  --${flag}${value}`;
    const who = owners.map((o) => o.topology).join(', ');
    const extra = [
      f.enum ? `one of ${f.enum.join(', ')}` : '',
      f.default !== undefined ? `default ${JSON.stringify(f.default)}` : '',
      type === 'string-list' ? 'repeatable' : '',
    ]
      .filter(Boolean)
      .join('; ');
    const text = `${who}: ${f.description || f.name}${extra ? ` (${extra})` : ''}`;
    rows.push(
      head.length < 26
        ? `${head.padEnd(26)}${wrapText(text, 26)}`
        : `${head}\n${' '.repeat(26)}${wrapText(text, 26)}`,
    );
  }
  return rows.length ? `${rows.join('\n')}\n` : '';
}

function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type Values = Record<string, string | boolean | string[] | undefined>;

/** What the command line and the config file's `source:` say about the source. */
export interface SourceInputs {
  topology: string | undefined;
  nodes: Endpoint[];
  password: string | undefined;
  preferReplica: boolean | undefined;
  /** The config file's `source:` section (its other keys are plugin options). */
  file: Record<string, unknown>;
}

/**
 * The source part of a task: its topology (given, or chosen by a flag that selects one, such as
 * --source-file) and its options from the topology's fields; plus the text that names where the
 * source is (for the default task id and titles).
 */
export function buildSource(
  s: SourceFlags,
  values: Values,
  input: SourceInputs,
): { topology: string; options: Record<string, unknown>; locator: string } {
  // every plugin option given, by flag (command line first, then the config file)
  const given = new Map<string, { value: unknown; from: string }>();
  for (const [flag, { owners }] of s.flags) {
    const v = values[flag];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) {
      given.set(flag, { value: v, from: `--${flag}` });
      continue;
    }
    for (const { field } of owners)
      for (const key of [camel(flag), field.name]) {
        const fv = input.file[key];
        if (fv !== undefined && !given.has(flag)) given.set(flag, { value: fv, from: `source.${key}` });
      }
  }
  const owning = (flag: string): string[] => (s.flags.get(flag)?.owners ?? []).map((o) => o.topology);
  let topology = input.topology;
  const selecting = [...given.keys()].filter((f) => s.flags.get(f)?.owners.some((o) => o.field.selects));
  if (selecting.length > 0 && topology === undefined) {
    const first = selecting[0] as string;
    topology = owning(first)[0] as string;
    if (input.nodes.length > 0)
      throw new FerryError(
        'CONFIG_INVALID',
        `${given.get(first)?.from} gives a ${topology} source: give it instead of --source, --source-node and --source-topology, not with them`,
      );
  }
  topology ??= 'standalone';
  for (const flag of given.keys())
    if (!owning(flag).includes(topology)) {
      const g = given.get(flag) as { from: string };
      throw new FerryError(
        'CONFIG_INVALID',
        selecting.includes(flag)
          ? `${g.from} gives a ${owning(flag).join(' or ')} source: give it instead of --source, --source-node and --source-topology, not with them`
          : `${g.from} goes with --source-topology ${owning(flag).join(' or ')}`,
      );
    }
  const entry = s.topologies.find((t) => t.plugin.topology === topology);
  const fields = entry?.fields ?? [];
  const options: Record<string, unknown> = {};
  const locators: string[] = [];
  for (const field of fields) {
    if (field.role || field.flag === false) continue;
    const g = given.get(field.flag);
    if (!g) continue;
    let v = g.value;
    if (field.type === 'string-list' && !Array.isArray(v)) v = [v];
    if (field.type === 'number' || field.type === 'integer') {
      const n = Number(v);
      if (typeof v === 'boolean' || !Number.isFinite(n))
        throw new FerryError('CONFIG_INVALID', `${g.from}: "${String(v)}" is not a number`);
      v = n;
    }
    if (field.path) v = Array.isArray(v) ? v.map((x) => resolve(String(x))) : resolve(String(v));
    options[field.name] = v;
    if (field.locates) locators.push(Array.isArray(v) ? v.join(',') : String(v));
  }
  const byRole = (role: OptionField['role']): OptionField | undefined => fields.find((f) => f.role === role);
  const nodesField = entry?.plugin.options ? byRole('nodes') : ({ name: 'nodes' } as OptionField);
  const passwordField = byRole('password');
  const withPw = (e: Endpoint): Endpoint =>
    input.password && e.password === undefined ? { ...e, password: input.password } : e;
  if (input.nodes.length > 0) {
    if (!nodesField)
      throw new FerryError(
        'CONFIG_INVALID',
        `the ${topology} source does not take --source or --source-node${
          fields.length
            ? `; it takes ${fields
                .filter((f) => f.flag)
                .map((f) => `--${f.flag}`)
                .join(', ')}`
            : ''
        }`,
      );
    options[nodesField.name] = passwordField ? input.nodes : input.nodes.map(withPw);
  } else if (locators.length === 0 && nodesField) {
    const alternatives = fields
      .filter((f) => f.locates && f.flag)
      .map((f) => `--${f.flag} ${f.placeholder ?? 'VALUE'}`);
    throw new FerryError(
      'CONFIG_INVALID',
      topology === 'standalone'
        ? 'give the source: --source redis://host:port or --source-node host:port[:password]'
        : `give the ${topology} source: ${[...alternatives, nodesField.noun ? `--source-node per ${nodesField.noun}` : '--source-node host:port[:password] (repeatable)'].join(' or ')}`,
    );
  }
  if (passwordField && input.password !== undefined) options[passwordField.name] = input.password;
  const prefer = byRole('preferReplica');
  if (prefer && input.preferReplica !== undefined) options[prefer.name] = input.preferReplica;
  if (entry) {
    // the plugin's own reading of them, now: a wrong option is refused before anything starts
    try {
      entry.plugin.parseOptions(options);
    } catch (err) {
      throw asFerryError(err);
    }
  }
  const locator = locators.length > 0 ? locators.join(',') : input.nodes.map(endpointName).join(',');
  return { topology, options, locator };
}

/** Where the source is, for a title line: its locating options, then its other texts ("pool alpha"). */
export function describeSource(s: SourceFlags, topology: string, options: Record<string, unknown>): string {
  const fields = s.topologies.find((t) => t.plugin.topology === topology)?.fields ?? [];
  const text = (v: unknown): string =>
    Array.isArray(v)
      ? v.map((x) => (typeof x === 'object' ? endpointName(x as Endpoint) : String(x))).join(', ')
      : String(v);
  const parts: string[] = [];
  const locating = fields.filter((f) => f.locates);
  for (const [i, f] of locating.entries())
    if (options[f.name] !== undefined)
      parts.push(i === 0 ? text(options[f.name]) : `${f.name} ${text(options[f.name])}`);
  if (parts.length === 0 && options.nodes !== undefined) parts.push(text(options.nodes));
  for (const f of fields)
    if (
      !f.locates &&
      !f.role &&
      !f.secret &&
      f.flag &&
      f.type === 'string' &&
      typeof options[f.name] === 'string'
    )
      parts.push(`${f.name} ${options[f.name] as string}`);
  return parts.join(' ');
}
