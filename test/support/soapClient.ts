import * as soap from 'soap';

/** The SOAP namespace of Services88 (header elements live in it). */
export const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';

/** node-soap's client generated from a WSDL URL (ours, or a file path to the reference), pointed at `endpoint`. */
export async function createSoapClient(wsdl: string, endpoint: string, ticket?: string): Promise<soap.Client> {
  const client = await soap.createClientAsync(wsdl, { endpoint, returnFault: true });
  if (ticket) client.addSoapHeader({ Credentials: { Ticket: ticket } }, '', 'tns', TNS);
  return client;
}

/** Calls an operation and returns [result, rawResponse, soapHeader]. */
export async function call(client: soap.Client, operation: string, args: unknown): Promise<[any, string, any]> {
  const method = (client as unknown as Record<string, (args: unknown) => Promise<[any, string, any]>>)[`${operation}Async`];
  return method(args);
}

/** A raw SOAP 1.1 POST, for the cases a generated client would never send. */
export async function postEnvelope(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; contentType: string | null }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', ...headers }, body });
  return { status: response.status, text: await response.text(), contentType: response.headers.get('content-type') };
}

export function envelope(bodyXml: string, ticket?: string): string {
  const header = ticket ? `<s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header>` : '';
  return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema">${header}<s:Body>${bodyXml}</s:Body></s:Envelope>`;
}
