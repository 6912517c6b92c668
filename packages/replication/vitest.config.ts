import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ferry/source'] },
  ssr: { resolve: { conditions: ['@ferry/source'] } },
  test: {
    pool: 'forks',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
