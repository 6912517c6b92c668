import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FerryError } from '@ferry/errors';
import type { FerryPlugin } from '@ferry/plugin-sdk';

function isPlugin(x: unknown): x is FerryPlugin {
  const p = x as { kind?: unknown; meta?: unknown } | null;
  return typeof p === 'object' && p !== null && typeof p.kind === 'string' && typeof p.meta === 'object';
}

/**
 * Loads plugin packages by name (resolved from the working directory, as `node` would for a
 * script there) or by path. A package's default export, or its `plugins` export, is a plugin, a
 * list of them, or a function that returns either.
 */
export async function loadPlugins(names: string[], cwd = process.cwd()): Promise<FerryPlugin[]> {
  const out: FerryPlugin[] = [];
  const req = createRequire(join(cwd, 'package.json'));
  for (const name of names) {
    const asPath = name.startsWith('.') || isAbsolute(name);
    let url: string;
    try {
      url = pathToFileURL(asPath ? req.resolve(resolve(cwd, name)) : req.resolve(name)).href;
    } catch (err) {
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin "${name}" was not found from ${cwd} (${(err as Error).message.split('\n')[0]}): install it where you run ferry (npm install ${asPath ? '…' : name}), or give its path`,
      );
    }
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new FerryError('CONFIG_INVALID', `plugin "${name}" failed to load: ${(err as Error).message}`);
    }
    let found: unknown = mod.plugins ?? mod.default;
    if (typeof found === 'function') found = await (found as () => unknown)();
    const list = Array.isArray(found) ? found : [found];
    if (found === undefined || !list.every(isPlugin))
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin "${name}" exports no plugin: its "plugins" export (or its default export) must be a plugin made with the SDK's define functions, a list of them, or a function returning them`,
      );
    out.push(...(list as FerryPlugin[]));
  }
  return out;
}
