import fs from 'node:fs';
import path from 'node:path';
import express, { type Express, type Response } from 'express';

/**
 * The operator console: a static page at `/` and its assets under `/console/`, built from
 * web/console by `npm run build` into dist/web and shipped in the package (no CDN). The page
 * talks only to /api/v1 with the ticket the operator signs in with (sessionStorage, Bearer
 * header; no cookies). Strict headers: no inline script, no framing, no referrer.
 */
export const CONSOLE_PATH = '/';

/** dist/web, from src/console (ts-jest) and from dist/console (the build) alike. */
export const CONSOLE_ASSETS = path.resolve(__dirname, '..', '..', 'dist', 'web');

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(res: Response): void {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  });
}

export function mountConsole(app: Express, assetsDir = CONSOLE_ASSETS): void {
  const indexFile = path.join(assetsDir, 'index.html');
  app.get(['/', '/index.html'], (_req, res) => {
    securityHeaders(res);
    if (!fs.existsSync(indexFile)) {
      res.status(503).type('text/plain').send('The operator console is not built: run npm run build (npm start does it), then reload.\n');
      return;
    }
    res.sendFile(indexFile);
  });
  app.use(
    '/console',
    express.static(assetsDir, {
      index: false,
      fallthrough: true,
      setHeaders: (res) => securityHeaders(res as unknown as Response),
    }),
  );
}
