// The web app's build: the dashboard (index.html) and the scanner (scan.html) into dist/web, served at /app and /scan
// with their assets under /web/. Preact through esbuild's JSX transform (no plugin needed).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/web/',
  publicDir: here('public'),
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: { input: { app: here('index.html'), scan: here('scan.html') } },
  },
});
