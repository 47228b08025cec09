import type { Response } from 'express';
import { CoreError, DatabaseUnavailableError, RateLimitedError, ValidationError } from '../core/errors';
import { databaseUnavailable } from '../db/transientErrors';
import { escapeXml, NS, textElement } from './xml';

/**
 * SOAP 1.1 faults, written by us rather than node-soap: node-soap's fault writer cannot add
 * the response headers (ExceptionInfo, Succeeded=false) and writes SOAP 1.2-shaped faults for
 * plain errors. One translation of core errors for the SOAP door.
 */

export interface SoapFault {
  code: 'soap:Client' | 'soap:Server';
  message: string;
  exceptionType: string;
  field: string | null;
  /** Sent as Retry-After (rate limit, database briefly unavailable). */
  retryAfterSeconds?: number;
}

const GENERIC_SERVER_MESSAGE = 'The service failed to process the request because of an internal error. It has been logged; try again, and contact the operator if it persists.';

export function faultFromError(error: unknown): SoapFault {
  error = databaseUnavailable(error) ?? error;
  if (error instanceof CoreError) {
    return {
      code: error.callerFault ? 'soap:Client' : 'soap:Server',
      message: error.message,
      exceptionType: error.name,
      field: error instanceof ValidationError ? error.field : null,
      retryAfterSeconds: error instanceof RateLimitedError || error instanceof DatabaseUnavailableError ? error.retryAfterSeconds : undefined,
    };
  }
  return { code: 'soap:Server', message: GENERIC_SERVER_MESSAGE, exceptionType: 'InternalError', field: null };
}

export function clientFault(message: string, exceptionType = 'BadRequest'): SoapFault {
  return { code: 'soap:Client', message, exceptionType, field: null };
}

function exceptionInfo(element: string, fault: SoapFault): string {
  const parameters = fault.field
    ? `<Parameters><SoExceptionInfoParametersKeyValuePair><Key>Field</Key>${textElement('Value', fault.field)}</SoExceptionInfoParametersKeyValuePair></Parameters>`
    : '';
  return (
    `<${element} xmlns="${NS.tns}">` +
    `<Message>${escapeXml(fault.message)}</Message><FriendlyText>${escapeXml(fault.message)}</FriendlyText>` +
    `<ExceptionType>${escapeXml(fault.exceptionType)}</ExceptionType>${parameters}` +
    `</${element}>`
  );
}

export function faultEnvelope(fault: SoapFault): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${NS.soapEnv}" xmlns:xsi="${NS.xsi}">` +
    `<soap:Header>${exceptionInfo('ExceptionInfo', fault)}<Succeeded xmlns="${NS.tns}">false</Succeeded></soap:Header>` +
    '<soap:Body><soap:Fault>' +
    `<faultcode>${fault.code}</faultcode><faultstring>${escapeXml(fault.message)}</faultstring>` +
    `<detail>${exceptionInfo('SoExceptionInfo', fault)}</detail>` +
    '</soap:Fault></soap:Body></soap:Envelope>'
  );
}

/** SOAP 1.1 sends every fault with HTTP 500. */
export function sendFault(res: Response, fault: SoapFault): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
  res.status(500).type('text/xml; charset=utf-8').send(faultEnvelope(fault));
}
