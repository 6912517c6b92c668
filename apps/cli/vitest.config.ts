import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ferry/source'] },
  ssr: { resolve: { conditions: ['@ferry/source'] } },
  test: { include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
