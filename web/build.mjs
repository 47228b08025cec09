// Builds the operator console (web/console) into dist/web: one bundled ES module, the
// page and its stylesheet. Run by `npm run build`; the service serves dist/web (no CDN).
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(root, 'console');
const out = path.join(root, '..', 'dist', 'web');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(source, 'main.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
await Promise.all(['index.html', 'console.css'].map((file) => copyFile(path.join(source, file), path.join(out, file))));
