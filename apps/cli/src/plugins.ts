import type { FerryPlugin } from '@ferry/core';
import { sourceCluster } from '@ferry/source-cluster';
import { sourceCodis } from '@ferry/source-codis';
import { sourceStandalone } from '@ferry/source-standalone';
import { sourceTwemproxy } from '@ferry/source-twemproxy';

/** The source topologies the CLI knows (--source-topology). */
export function sourcePlugins(): FerryPlugin[] {
  return [
    sourceStandalone() as FerryPlugin,
    sourceCluster() as FerryPlugin,
    sourceTwemproxy() as FerryPlugin,
    sourceCodis() as FerryPlugin,
  ];
}
