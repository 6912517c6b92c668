import type { TaskOptionsInput } from '../gql/graphql.js';
import { type KeyPattern, parseDbMap, parseFilter, parseRate } from './parse.js';

/** The options form's text fields (the same in the wizard and the edit page). */
export interface OptionsText {
  dbMap: string;
  filter: string;
  renamePrefix: string;
  keysPerSec: string;
  bytesPerSec: string;
  writeMode: 'auto' | 'restore' | 'rewrite';
  conflict: 'fail' | 'replace' | 'skip';
}

export const EMPTY_OPTIONS: OptionsText = {
  dbMap: '',
  filter: '',
  renamePrefix: '',
  keysPerSec: '',
  bytesPerSec: '',
  writeMode: 'auto',
  conflict: 'fail',
};

function patternText(p: KeyPattern): string {
  return p.prefix != null
    ? `prefix:${p.prefix}`
    : p.regex != null
      ? `regex:${p.regex}`
      : `glob:${p.glob ?? ''}`;
}

/** A task's options (as the API shows them) back into the form's text. */
export function optionsText(o: {
  dbMap?: ReadonlyArray<{ source: string; db: number; prefix?: string | null }> | null;
  filter?: {
    include: ReadonlyArray<{ prefix?: string | null; glob?: string | null; regex?: string | null }>;
    exclude: ReadonlyArray<{ prefix?: string | null; glob?: string | null; regex?: string | null }>;
  } | null;
  renamePrefix?: string | null;
  rateLimit?: { keysPerSec: number; bytesPerSec: number } | null;
  writeMode?: string | null;
  conflict?: string | null;
}): OptionsText {
  const clean = (p: { prefix?: string | null; glob?: string | null; regex?: string | null }): KeyPattern => ({
    ...(p.prefix != null ? { prefix: p.prefix } : {}),
    ...(p.glob != null ? { glob: p.glob } : {}),
    ...(p.regex != null ? { regex: p.regex } : {}),
  });
  return {
    dbMap: (o.dbMap ?? []).map((e) => `${e.source}=${e.db}${e.prefix ? `+${e.prefix}` : ''}`).join(', '),
    filter: [
      ...(o.filter?.include ?? []).map((p) => patternText(clean(p))),
      ...(o.filter?.exclude ?? []).map((p) => `!${patternText(clean(p))}`),
    ].join('\n'),
    renamePrefix: o.renamePrefix ?? '',
    keysPerSec: o.rateLimit?.keysPerSec ? String(o.rateLimit.keysPerSec) : '',
    bytesPerSec: o.rateLimit?.bytesPerSec ? String(o.rateLimit.bytesPerSec) : '',
    writeMode: (o.writeMode as OptionsText['writeMode']) ?? 'auto',
    conflict: (o.conflict as OptionsText['conflict']) ?? 'fail',
  };
}

/** The form checked: each field's problem, and the typed input when there is none. */
export function checkOptions(t: OptionsText): {
  problems: Record<string, string | null>;
  input?: TaskOptionsInput;
} {
  const map = parseDbMap(t.dbMap);
  const flt = parseFilter(t.filter);
  const kps = parseRate(t.keysPerSec, 'keys/s');
  const bps = parseRate(t.bytesPerSec, 'bytes/s');
  const problems = {
    dbMap: map.ok ? null : map.error,
    filter: flt.ok ? null : flt.error,
    keysPerSec: kps.ok ? null : kps.error,
    bytesPerSec: bps.ok ? null : bps.error,
  };
  if (!map.ok || !flt.ok || !kps.ok || !bps.ok) return { problems };
  return {
    problems,
    input: {
      ...(map.value ? { dbMap: map.value } : {}),
      ...(flt.value ? { filter: flt.value } : {}),
      ...(t.renamePrefix ? { renamePrefix: t.renamePrefix } : {}),
      ...(kps.value || bps.value
        ? { rateLimit: { keysPerSec: kps.value ?? 0, bytesPerSec: bps.value ?? 0 } }
        : {}),
      writeMode: t.writeMode,
      conflict: t.conflict,
    },
  };
}
