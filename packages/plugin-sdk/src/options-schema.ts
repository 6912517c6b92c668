import { z } from 'zod';
import { OptionsError } from './errors.js';

/**
 * A plugin's options as a zod object. Each field may carry, with `.meta({...})`, what the apps need
 * to ask for it (see `OptionMeta`); `.describe()` is its help text.
 */
export type OptionsSchema = z.ZodObject;

/** What `.meta()` on an option field may say besides its description. */
export interface OptionMeta {
  /**
   * The CLI flag, without dashes (default: `<topology>-<field in kebab case>`); `false`: not on the
   * command line (the config file's `source:` section and the GraphQL input still take it).
   */
  flag?: string | false;
  /** A file or folder: the CLI resolves it against the working directory. */
  path?: boolean;
  /** Write-only (a password): never shown back, stored sealed. */
  secret?: boolean;
  /** Giving it chooses this topology (`--source-file` is a file source), with no `--source-topology`. */
  selects?: boolean;
  /** It says where the source is (a config file, an address): titles and the default task id use it. */
  locates?: boolean;
  /**
   * One of the options every server topology shares, which the apps ask for once rather than per
   * topology: `nodes` (`--source` / `--source-node`, host:port[:password] each), `password`
   * (`--source-password`), `preferReplica`.
   */
  role?: 'nodes' | 'password' | 'preferReplica';
  /** Shown in help as the value's name (`--pool NAME`). */
  placeholder?: string;
  /** What one item of a list is, for messages ("group master": "--source-node per group master"). */
  noun?: string;
}

/** One option as the CLI, the gateway and the console ask for it. */
export interface OptionField extends OptionMeta {
  name: string;
  /** How a user types it: text, a number, a switch, or a list of texts (a repeatable flag). */
  type: 'string' | 'number' | 'integer' | 'boolean' | 'string-list';
  description: string;
  required: boolean;
  flag: string | false;
  enum?: string[];
  default?: unknown;
  minimum?: number;
}

type JsonSchema = {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
} & OptionMeta;

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function typeOf(s: JsonSchema, where: string): OptionField['type'] {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (t === 'string' || t === 'number' || t === 'integer' || t === 'boolean') return t;
  if (t === 'array') return 'string-list';
  if (s.anyOf) {
    // text or a list of texts (a path or several): asked for as a list
    const kinds = s.anyOf.map((x) => x.type);
    if (kinds.includes('array')) return 'string-list';
    if (kinds.includes('string')) return 'string';
  }
  throw new TypeError(
    `${where}: an option must be text, a number, a switch or a list of texts (${JSON.stringify(s.type ?? s.anyOf)})`,
  );
}

/**
 * The fields of an options schema, in their order, with what the apps need to ask for each. Throws
 * a TypeError naming the field when one cannot be asked for (an object, a map): such options belong
 * in the config file, under the topology's name, and their schema as `z.any()` with a description.
 */
export function describeOptions(schema: OptionsSchema, owner: string): OptionField[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, s]) => {
    const field: OptionField = {
      name,
      type: typeOf(s, `${owner} option "${name}"`),
      description: s.description ?? '',
      required: required.has(name),
      flag: s.flag ?? `${owner}-${kebab(name)}`,
    };
    for (const k of ['path', 'secret', 'selects', 'locates', 'role', 'placeholder', 'noun'] as const)
      if (s[k] !== undefined) (field as unknown as Record<string, unknown>)[k] = s[k];
    const values = s.enum ?? s.items?.enum;
    if (values) field.enum = values.map(String);
    if (s.default !== undefined) field.default = s.default;
    if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) field.minimum = s.minimum;
    return field;
  });
}

/** The `nodes` option of a server topology: host:port[:password] texts or endpoint objects. */
export function nodesOption(description: string, noun?: string) {
  const endpoint = z.object({
    host: z.string(),
    port: z.number().int(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z.boolean().optional(),
  });
  return z
    .union([z.string(), z.array(z.union([z.string(), endpoint]))])
    .meta({ role: 'nodes', description, ...(noun ? { noun } : {}) });
}

/** The schema's JSON Schema (input side), for a form or a document. */
export function optionsJsonSchema(schema: OptionsSchema): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * Parses raw options with the schema; a failure names every wrong option and what it wanted, in
 * one line ("file source options: files: expected at least 1 item").
 */
export function parseWithSchema<T>(schema: z.ZodType<T>, raw: unknown, owner: string): T {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    const what = i.code === 'invalid_type' && /received undefined$/.test(i.message) ? 'required' : i.message;
    return `${i.path.length ? `${i.path.join('.')}: ` : ''}${what}`;
  });
  throw new OptionsError(`${owner} options: ${problems.join('; ')}`);
}
