import fs from 'node:fs';
import path from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import * as soap from 'soap';
import { identifyCaller, identifyCallerNow } from '../core/caller';
import { RateLimitedError } from '../core/errors';
import { OPERATION_NAMES, OPERATIONS, runOperation, ticketFromAuthorization, type OperationName, type OperationResults } from '../core/operations';
import { outageLog } from '../db/transientErrors';
import type { RequestRateLimiter } from '../core/rateLimit';
import type { WebhookManager } from '../core/WebhookManager';
import type { DataSource } from 'typeorm';
import type { Logger } from '../logger';
import { stringResponseXml, webhookArrayResponseXml, webhookResponseXml, webhookResultResponseXml } from './carrierXml';
import { sendAnswer } from './answers';
import { checkEnvelope } from './envelopeGuard';
import { readEnvelope } from './envelopeReader';
import { clientFault, faultEnvelope, faultFromError, sendFault } from './faults';
import { operationArguments, text } from './requestMapping';
import { escapeXml, NS } from './xml';
import { SOAP_PATH } from './endpoint';

const WSDL_FILE = path.join(__dirname, '..', '..', 'wsdl', 'WebhookAgent.wsdl');

export interface SoapDependencies {
  ds: DataSource;
  manager: WebhookManager;
  publicUrl: string | null;
  bodyLimitBytes: number;
  logger: Logger;
  rateLimiter: RequestRateLimiter;
}

const WSDL_TEMPLATE = fs.readFileSync(WSDL_FILE, 'utf8');

/** The project's WSDL with soap:address pointing at this server. */
export function renderWsdl(publicUrl: string): string {
  return WSDL_TEMPLATE.replace(/(<soap:address location=")[^"]*(")/, `$1${escapeXml(publicUrl)}${SOAP_PATH}$2`);
}

/** PUBLIC_URL when configured, otherwise the address the client used (as WCF does); then the tenant path it was fetched under, if any. */
function publicUrlOf(req: Request, res: Response, configured: string | null): string {
  return (configured ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`) + ((res.locals.tenantPrefix as string | undefined) ?? '');
}

function ticketFrom(headers: unknown, req: Request): string | null {
  const credentials = (headers as Record<string, unknown> | undefined)?.Credentials;
  const ticket = credentials && typeof credentials === 'object' ? text((credentials as Record<string, unknown>).Ticket, 'Credentials.Ticket') : null;
  if (ticket) return ticket;
  return ticketFromAuthorization(req.headers.authorization);
}

/** The ApplicationToken SOAP header (NetServer Online's application identity), if sent. */
function applicationTokenFrom(headers: unknown): string | null {
  return text((headers as Record<string, unknown> | undefined)?.ApplicationToken, 'ApplicationToken');
}

/**
 * Mounts the WebhookAgent SOAP endpoint on an express app: our guard in front (size, XML
 * well-formedness, operation), then the envelope reader for the envelopes it can read without the
 * schema and node-soap for dispatch of the rest, our writers for bodies and faults. Resolves once
 * node-soap has registered its route.
 */
export async function mountSoapService(app: Express, deps: SoapDependencies): Promise<void> {
  const { manager } = deps;

  /** Each operation's Response element, in pieces (none: a void operation writes none). */
  const one = <T>(write: (result: T) => string) => (result: T) => [write(result)];
  const responseXml: { [K in OperationName]: (result: OperationResults[K]) => readonly string[] } = {
    CreateDefaultWebhook: one(webhookResponseXml),
    SaveWebhook: one(webhookResponseXml),
    GetWebhook: one(webhookResponseXml),
    GetAllWebhooks: webhookArrayResponseXml,
    DeleteWebhook: () => [],
    TestWebhook: one(webhookResultResponseXml),
    SignalEvent: () => [],
    GetLastError: one(stringResponseXml),
  };

  /** Runs an operation for its caller and writes the answer or the fault. */
  const answer: Answer = async (name, args, headers, req, res) => {
    try {
      const ticket = ticketFrom(headers, req);
      const applicationToken = applicationTokenFrom(headers);
      const caller = identifyCallerNow(deps.rateLimiter, ticket, applicationToken) ?? (await identifyCaller(deps.ds, deps.rateLimiter, ticket, applicationToken));
      const result = await runOperation(name, manager, operationArguments(name, args), caller);
      sendAnswer(res, name, (responseXml[name] as (result: unknown) => readonly string[])(result));
    } catch (error) {
      const fault = faultFromError(error);
      if (fault.exceptionType === 'DatabaseUnavailableError') outageLog.report(deps.logger, error, 'soap');
      else if (fault.code === 'soap:Server') deps.logger.error({ err: error, operation: name }, 'SOAP operation failed');
      sendFault(res, fault);
    }
  };

  const port: Record<string, unknown> = {};
  for (const name of OPERATION_NAMES) {
    port[name] = async (args: unknown, _callback: unknown, headers: unknown, req: Request, res: Response) => {
      await answer(name, args, headers, req, res);
      // The answer or the fault is written; a promise that never settles keeps node-soap from writing again.
      return new Promise(() => undefined);
    };
  }

  app.use(SOAP_PATH, rawBody(deps.bodyLimitBytes), soapGuard(deps.publicUrl, deps.logger, answer), (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (error as { status?: number; type?: string }).status;
    if (status === 413) return sendFault(res, clientFault(`The request body is larger than the limit of ${deps.bodyLimitBytes} bytes (BODY_LIMIT).`, 'RequestTooLarge'));
    if (status && status < 500) return sendFault(res, clientFault('The request body could not be read; send a SOAP 1.1 envelope as text/xml in UTF-8.'));
    next(error);
  });

  await new Promise<void>((resolve) => {
    const server = soap.listen(app, {
      path: SOAP_PATH,
      services: { WcfWebhookService: { BasicHttpBinding_Webhook: port } },
      xml: renderWsdl(deps.publicUrl ?? 'http://localhost'),
      suppressStack: true,
      customDeserializer: NODE_SOAP_DESERIALIZER,
      // One write per response instead of write() + end().
      enableChunkedEncoding: false,
      callback: () => resolve(),
    } as soap.IServerOptions);
    // Answers are written by soap/answers.ts; should node-soap ever write an envelope itself, it says Succeeded too.
    server.addSoapHeader(`<Succeeded xmlns="${NS.tns}">true</Succeeded>`);
  });
}

/**
 * The request body as one Buffer in req.body. An uncompressed body (every SOAP client we know)
 * is read here directly: express.raw's content-type, charset and inflate machinery cost more
 * than the read itself on a small envelope. A compressed one goes through express.raw.
 * Errors carry body-parser's status (413, 400) for the fault handler after the guard.
 */
function rawBody(limit: number) {
  const compressed = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST') return next();
    if (req.headers['content-encoding'] !== undefined) return compressed(req, res, next);
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      return next(Object.assign(new Error('request entity too large'), { status: 413, type: 'entity.too.large' }));
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      length += chunk.length;
      if (length > limit) {
        failed = true;
        next(Object.assign(new Error('request entity too large'), { status: 413, type: 'entity.too.large' }));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (failed) return;
      req.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
      next();
    });
    req.once('error', (error) => {
      if (failed) return;
      failed = true;
      next(Object.assign(error, { status: 400 }));
    });
  };
}

/**
 * node-soap reads xs:int with parseInt ("1 OR 1=1" -> 1) and any xs:boolean but "true" as false
 * ("maybe" -> false); keep the text so requestMapping refuses them with a message, as the envelope
 * reader's requests are refused (test/soap/envelopeReader.test.ts found the boolean).
 */
export const NODE_SOAP_DESERIALIZER = Object.fromEntries(['int', 'integer', 'short', 'long', 'boolean'].map((type) => [type, (text: string) => text]));

type Answer = (name: OperationName, args: unknown, headers: unknown, req: Request, res: Response) => Promise<void>;

/**
 * GET: the WSDL or a pointer to it. POST: a checked envelope, answered here when envelopeReader
 * can read it without the schema (most requests), else dispatched by node-soap.
 */
function soapGuard(configuredPublicUrl: string | null, logger: Logger, answer: Answer) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1).toLowerCase() : '';
      if (query === 'wsdl' || query === 'singlewsdl' || query.startsWith('wsdl=')) {
        res.type('text/xml; charset=utf-8').send(renderWsdl(publicUrlOf(req, res, configuredPublicUrl)));
      } else {
        res.type('text/plain; charset=utf-8').send(`WebhookAgent SOAP 1.1 endpoint. The WSDL is at ${SOAP_PATH}?wsdl\n`);
      }
      return;
    }
    if (req.method !== 'POST') {
      res.status(405).set('Allow', 'GET, POST').type('text/plain').send('Use POST for SOAP calls and GET ?wsdl for the WSDL.\n');
      return;
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = checkEnvelope(body, req.headers.soapaction as string | undefined);
    if (!verdict.ok) return sendFault(res, clientFault(verdict.message));
    const read = readEnvelope(verdict.xml, verdict.operation);
    if (read) return void answer(verdict.operation, read.args, read.headers, req, res);
    replacePlainTextErrors(res, logger);
    next();
  };
}

/**
 * Last line of defence: node-soap answers some internal errors with a plain-text 500 (its
 * message, or a stack). Whatever slips past the guard still reaches the caller as a SOAP fault.
 */
export function replacePlainTextErrors(res: Response, logger: Logger): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    // Only a 5xx is looked at: decoding every answer (GetAllWebhooks: 150 kB) would cost more than the check.
    if (res.statusCode < 500 || res.headersSent) return end(chunk, ...rest);
    const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : typeof chunk === 'string' ? chunk : '';
    // Plain text, or node-soap's own fault (faultcode 500, its parser's message in detail); ours say soap:Client or soap:Server.
    if (!text.startsWith('<?xml') || /<faultcode>(?!soap:(?:Client|Server)<)/.test(text)) {
      logger.error({ nodeSoapError: text.slice(0, 500) }, 'node-soap failed a request');
      res.setHeader('Content-Type', 'text/xml; charset=utf-8');
      return end(faultEnvelope(faultFromError(null)));
    }
    return end(chunk, ...rest);
  }) as Response['end'];
}
