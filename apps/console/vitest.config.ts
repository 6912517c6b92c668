import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// Component tests (happy-dom, per file) and the end-to-end run in Chromium, both against a real
// gateway process and real redis-servers started by the testkit.
export default defineConfig({
  plugins: [react()],
  resolve: { conditions: ['@ferry/source'] },
  ssr: { resolve: { conditions: ['@ferry/source'] } },
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
