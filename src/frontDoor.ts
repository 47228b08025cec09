import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Doors {
  /** Runs first on every request: its id, its tenant prefix, its metrics. True when it has answered. */
  prepare(req: IncomingMessage, res: ServerResponse): boolean;
  /** The SOAP endpoint (its path, any case, and below it). */
  soap: Handler;
  /** The REST API (/api/v1, any case, and below it). */
  rest: Handler;
  /** Everything else: the console, health, metrics, the 404 page. */
  other: Handler;
}

const REST_DOOR = /^\/api\/v1(?:[/?]|$)/i;

/**
 * Every request's first stop, in plain node: what each request needs (its id, its tenant prefix
 * taken off, its count in the metrics) is done here once, then the door its path names answers.
 * Each door is an express app of its own, so a request passes only its own door's layers (REST
 * GET /Webhook/default: 4 layer matches, not 12 in one app), and the metrics label the URL as
 * the door saw it, under a tenant's prefix too.
 */
export function frontDoor(soapPath: string, doors: Doors): Handler {
  const soapDoor = new RegExp(`^${soapPath.replace(/[.]/g, '\\.')}(?:[/?]|$)`, 'i');
  return (req, res) => {
    if (doors.prepare(req, res)) return;
    const url = req.url ?? '/';
    if (soapDoor.test(url)) doors.soap(req, res);
    else if (REST_DOOR.test(url)) doors.rest(req, res);
    else doors.other(req, res);
  };
}
