/** The commands of `ferry`, with whether this build has them yet. */
export interface CommandInfo {
  name: string;
  summary: string;
  available: boolean;
}

export const COMMANDS: readonly CommandInfo[] = [
  { name: 'migrate', summary: 'full + incremental migration from a source to a target', available: true },
  { name: 'check', summary: 'prechecks: can this migration work, and what will bite', available: true },
  { name: 'verify', summary: 'compare source and target, key by key', available: true },
  { name: 'token', summary: 'make an API token for the gateway (ferry token create NAME)', available: true },
  { name: 'rdb', summary: 'inspect an RDB file: every key as JSON lines, or a summary', available: true },
];
