import type { FerryPlugin } from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { sourceCluster } from '@ferry/source-cluster';
import { sourceCodis } from '@ferry/source-codis';
import { checkSourceFiles, sourceFile } from '@ferry/source-file';
import { sourceStandalone } from '@ferry/source-standalone';
import { sourceTwemproxy } from '@ferry/source-twemproxy';

/** The source topologies the CLI knows (--source-topology, --source-file), and the file source's check. */
export function sourcePlugins(): FerryPlugin[] {
  return [
    sourceStandalone() as FerryPlugin,
    sourceCluster() as FerryPlugin,
    sourceTwemproxy() as FerryPlugin,
    sourceCodis() as FerryPlugin,
    sourceFile() as FerryPlugin,
    checkSourceFiles(),
  ];
}

/**
 * The plugins asked for: every `--plugin NAME` (or `--plugin=NAME`) anywhere on the command line,
 * then FERRY_PLUGINS (comma separated); the command line without them.
 */
export function pluginRequests(argv: string[], env: string | undefined): { names: string[]; argv: string[] } {
  const names: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--plugin') {
      const name = argv[i + 1];
      if (name === undefined || name.startsWith('--'))
        throw new FerryError('CONFIG_INVALID', '--plugin needs a package name or a path');
      names.push(name);
      i++;
    } else if (a.startsWith('--plugin=')) names.push(a.slice('--plugin='.length));
    else rest.push(a);
  }
  for (const n of (env ?? '').split(',')) if (n.trim()) names.push(n.trim());
  return { names, argv: rest };
}
