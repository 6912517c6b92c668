import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into dist/, which the gateway serves at / (same port as /graphql, so no CORS and the
// token never leaves the page's own origin).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
});
