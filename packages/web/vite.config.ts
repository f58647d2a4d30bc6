// Builds the dashboard into packages/web/dist, served by dc-api at /dashboard/. The output must
// satisfy the dashboard's CSP (script-src 'self', no inline styles): one external module script,
// one stylesheet, no inline bootstrap code.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('./dist', import.meta.url));

/** dist/ also holds the compiled tests (dist/test), so only the bundle's own files are cleared. */
function cleanBundleOutput(): Plugin {
  return {
    name: 'dc-clean-bundle-output',
    apply: 'build',
    buildStart() {
      for (const p of ['assets', 'index.html', 'favicon.svg']) rmSync(`${outDir}/${p}`, { recursive: true, force: true });
    },
  };
}

export default defineConfig({
  root,
  base: '/dashboard/',
  plugins: [react(), cleanBundleOutput()],
  build: {
    outDir,
    emptyOutDir: false,
    assetsDir: 'assets',
    // No inline polyfill script: every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs into CSS or JS (the CSP has no data: source).
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
});
