import { FerryError } from '@ferry/errors';

/** Redis's glob (stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\x`; matched on bytes (latin1). */
export function globToRegExp(glob: string): RegExp {
  const g = Buffer.from(glob, 'utf8').toString('latin1');
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i] as string;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < g.length) re += escapeChar(g[++i] as string);
    else if (c === '[') {
      const close = g.indexOf(']', i + 2);
      if (close < 0)
        throw new FerryError(
          'CONFIG_INVALID',
          `filter glob ${JSON.stringify(glob)}: "[" at position ${i + 1} is never closed (a literal "[" is written \\[)`,
        );
      let body = g.slice(i + 1, close);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = close;
    } else re += escapeChar(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeChar(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
