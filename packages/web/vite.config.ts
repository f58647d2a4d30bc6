// Builds the dashboard into packages/web/dist, served by dc-api at /dashboard/. The output must
// satisfy the dashboard's CSP (script-src 'self', no inline styles): one external module script,
// one stylesheet, no inline bootstrap code.
import { rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

/**
 * The bundle runs in a browser: importing a node builtin (or `@dc/core/node`, core's node:crypto
 * half) fails the build, where Vite would otherwise swap in a stub that throws at run time.
 */
function browserOnly(): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'dc-browser-only',
    enforce: 'pre',
    resolveId(id, importer) {
      if (id.startsWith('node:') || builtins.has(id) || id === '@dc/core/node' || id.startsWith('@dc/core/dist/src/node')) {
        this.error(`${importer ?? 'the entry'} imports ${id}: the dashboard must not use node-only modules (import from @dc/core, never @dc/core/node)`);
      }
      return null;
    },
  };
}

export default defineConfig({
  root,
  base: '/dashboard/',
  plugins: [browserOnly(), react(), cleanBundleOutput()],
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
