import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * NetServer Online addresses a tenant in the path: https://host/Cust12345/Remote/Services88/Webhook.svc
 * and https://host/Cust12345/api/v1/... Both doors answer there as at the root: the configured
 * tenant's prefix (CONTEXT_IDENTIFIER, any case) is taken off the URL and kept in
 * res.locals.tenantPrefix (the WSDL's soap:address keeps it). Another tenant's prefix is a 404
 * naming the one this service serves.
 */

const DOOR_PATH = /^\/([^/?]+)(\/(?:Remote\/Services88\/Webhook\.svc|api\/)[^]*)$/i;

/** Takes the configured tenant's prefix off req.url; answers 404 itself (and returns true) for another tenant's. */
export function tenantPaths(contextIdentifier: string) {
  const tenant = contextIdentifier.toLowerCase();
  return (req: IncomingMessage, res: ServerResponse & { locals?: Record<string, unknown> }): boolean => {
    const match = DOOR_PATH.exec(req.url ?? '');
    if (!match) return false;
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      name = match[1];
    }
    if (name.toLowerCase() === tenant) {
      // express keeps res.locals it finds (app.handle sets them only when absent).
      res.locals ??= Object.create(null) as Record<string, unknown>;
      res.locals.tenantPrefix = `/${match[1]}`;
      req.url = match[2];
      return false;
    }
    const message = `There is no tenant ${JSON.stringify(name.slice(0, 60))} here: this service serves ${contextIdentifier}, at /${contextIdentifier}/ or at the root.`;
    res.statusCode = 404;
    if (/^\/api\//i.test(match[2])) {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ Error: true, ErrorType: 'NotFound', Message: message }));
    } else {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`${message}\n`);
    }
    return true;
  };
}
