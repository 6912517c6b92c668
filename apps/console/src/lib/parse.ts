// What the operator types, checked as they type: node lines, db maps and key filters. Each parser
// returns the value or the first problem in words; the gateway checks everything again.

export interface NodeInput {
  host: string;
  port: number;
  password?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * `host:port[:password]`, one per line (blank lines ignored). A password may itself hold colons:
 * everything after the second colon is the password. IPv6 hosts go in brackets: `[::1]:6379`.
 */
export function parseNodes(text: string): Parsed<NodeInput[]> {
  const nodes: NodeInput[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (!line) continue;
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)(?::(.*))?$/.exec(line);
    if (!m) return { ok: false, error: `line ${i + 1}: expected host:port or host:port:password` };
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return { ok: false, error: `line ${i + 1}: port ${port} is not 1–65535` };
    const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
    nodes.push({ host, port, ...(m[3] ? { password: m[3] } : {}) });
  }
  if (nodes.length === 0) return { ok: false, error: 'at least one node: host:port[:password]' };
  return { ok: true, value: nodes };
}

export interface DbMapEntry {
  source: string;
  db: number;
  prefix?: string;
}

/** `SRC=DST[+PREFIX]`, comma separated (`0=0, 1=0+db1:`, `*=0`); empty: every db to the same number. */
export function parseDbMap(text: string): Parsed<DbMapEntry[] | undefined> {
  if (!text.trim()) return { ok: true, value: undefined };
  const out: DbMapEntry[] = [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const m = /^(\*|\d+)=(\d+)(?:\+(.*))?$/.exec(item);
    if (!m)
      return { ok: false, error: `"${item}": expected SRC=DST or SRC=DST+PREFIX (e.g. 0=0, *=0, 1=0+db1:)` };
    if (seen.has(m[1] as string)) return { ok: false, error: `source db ${m[1]} is mapped twice` };
    seen.add(m[1] as string);
    out.push({ source: m[1] as string, db: Number(m[2]), ...(m[3] ? { prefix: m[3] } : {}) });
  }
  return { ok: true, value: out };
}

export interface KeyPattern {
  prefix?: string;
  glob?: string;
  regex?: string;
}

/** One pattern per line: `prefix:ABC`, `glob:user:*`, `regex:^a[0-9]+$`, bare text a glob; `!` excludes. */
export function parseFilter(
  text: string,
): Parsed<{ include: KeyPattern[]; exclude: KeyPattern[] } | undefined> {
  const include: KeyPattern[] = [];
  const exclude: KeyPattern[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (!raw) continue;
    const negate = raw.startsWith('!');
    const body = negate ? raw.slice(1) : raw;
    const colon = body.indexOf(':');
    const kind = colon < 0 ? '' : body.slice(0, colon);
    let p: KeyPattern;
    if (kind === 'prefix') p = { prefix: body.slice(colon + 1) };
    else if (kind === 'regex') {
      const re = body.slice(colon + 1);
      try {
        new RegExp(re);
      } catch (err) {
        return { ok: false, error: `line ${i + 1}: ${(err as Error).message}` };
      }
      p = { regex: re };
    } else {
      const glob = kind === 'glob' ? body.slice(colon + 1) : body;
      const problem = globProblem(glob);
      if (problem) return { ok: false, error: `line ${i + 1}: ${problem}` };
      p = { glob };
    }
    (negate ? exclude : include).push(p);
  }
  if (include.length === 0 && exclude.length === 0) return { ok: true, value: undefined };
  return { ok: true, value: { include, exclude } };
}

/** Redis's glob: a `[` must be closed, a trailing `\` escapes nothing. */
function globProblem(glob: string): string | undefined {
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      if (i === glob.length - 1) return `"${glob}" ends with a lone \\`;
      i++;
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) return `in "${glob}" the [ at ${i + 1} is never closed`;
      i = close;
    }
  }
  return undefined;
}

/** A positive number or nothing (`''` → undefined). */
export function parseRate(text: string, what: string): Parsed<number | undefined> {
  if (!text.trim()) return { ok: true, value: undefined };
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) return { ok: false, error: `${what} must be a number ≥ 0` };
  return { ok: true, value: n };
}
