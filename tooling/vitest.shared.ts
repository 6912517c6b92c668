import { defineConfig } from 'vitest/config';

/**
 * The vitest settings every package shares: sources resolved through the `@ferry/source` condition
 * (no build of sibling packages needed), tests in forked processes (the testkit kills a test
 * file's servers when its process ends), and timeouts sized for real servers.
 */
export function ferryVitestConfig(
  options: {
    timeoutMs?: number;
    globalSetup?: string[];
    /** Module ids resolved to another file (e.g. graphql's CommonJS entry, the one Node itself loads). */
    alias?: Record<string, string>;
  } = {},
) {
  const timeout = options.timeoutMs ?? 60_000;
  return defineConfig({
    resolve: {
      conditions: ['@ferry/source'],
      ...(options.alias
        ? {
            alias: Object.entries(options.alias).map(([k, v]) => ({
              find: new RegExp(`^${k}$`),
              replacement: v,
            })),
          }
        : {}),
    },
    ssr: { resolve: { conditions: ['@ferry/source'] } },
    test: {
      pool: 'forks',
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: timeout,
      hookTimeout: timeout,
      ...(options.globalSetup ? { globalSetup: options.globalSetup } : {}),
    },
  });
}
