import type { FerryPlugin } from '@ferry/core';
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
