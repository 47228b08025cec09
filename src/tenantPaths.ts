import type { NextFunction, Request, Response } from 'express';

/**
 * NetServer Online addresses a tenant in the path: https://host/Cust12345/Remote/Services88/Webhook.svc
 * and https://host/Cust12345/api/v1/... Both doors answer there as at the root: the configured
 * tenant's prefix (CONTEXT_IDENTIFIER, any case) is taken off the URL and kept in
 * res.locals.tenantPrefix (the WSDL's soap:address keeps it). Another tenant's prefix is a 404
 * naming the one this service serves.
 */

const DOOR_PATH = /^\/([^/?]+)(\/(?:Remote\/Services88\/Webhook\.svc|api\/)[^]*)$/i;

export function tenantPaths(contextIdentifier: string) {
  const tenant = contextIdentifier.toLowerCase();
  return (req: Request, res: Response, next: NextFunction): void => {
    const match = DOOR_PATH.exec(req.url);
    if (!match) return next();
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      name = match[1];
    }
    if (name.toLowerCase() === tenant) {
      res.locals.tenantPrefix = `/${match[1]}`;
      req.url = match[2];
      return next();
    }
    const message = `There is no tenant ${JSON.stringify(name.slice(0, 60))} here: this service serves ${contextIdentifier}, at /${contextIdentifier}/ or at the root.`;
    if (/^\/api\//i.test(match[2])) res.status(404).json({ Error: true, ErrorType: 'NotFound', Message: message });
    else res.status(404).type('text/plain').send(`${message}\n`);
  };
}
