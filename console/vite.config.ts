// Builds the admin console into dist/console, which the service serves at /admin (src/admin/console.ts).
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/admin/',
  // The typed client is bundled from its TypeScript source (client/src), so no build order is needed.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // Every browser the machine has (Debian's Chromium) and every current one.
    target: 'es2022',
    reportCompressedSize: false,
  },
  clearScreen: false,
  logLevel: 'warn',
});
