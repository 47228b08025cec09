import type { Response } from 'express';
import { NS } from './xml';

/**
 * Successful SOAP answers, written here rather than by node-soap (which still parses and
 * dispatches the requests envelopeReader.ts leaves to it). node-soap wraps a body in its
 * envelope by string concatenation and writes the result as one string: for GetAllWebhooks
 * that is a 150 kB string copied three times, and strings that large are V8's slowest kind
 * (large-object space, fresh pages each time). Here each piece of the body is encoded on its
 * own and the bytes joined once.
 *
 * The envelope is NetServer's: the Succeeded header, then <{Operation}Response> in the
 * service namespace around the Response element (none for a void operation).
 */
const ENVELOPE_START =
  '<?xml version="1.0" encoding="utf-8"?>' +
  `<soap:Envelope xmlns:soap="${NS.soapEnv}"><soap:Header><Succeeded xmlns="${NS.tns}">true</Succeeded></soap:Header><soap:Body>`;
const ENVELOPE_END = '</soap:Body></soap:Envelope>';

/** Each operation's bytes before and after its Response element, made once. */
const frames = new Map<string, { start: Buffer; end: Buffer }>();

function frameOf(operation: string): { start: Buffer; end: Buffer } {
  let frame = frames.get(operation);
  if (!frame) {
    frame = { start: Buffer.from(`${ENVELOPE_START}<${operation}Response xmlns="${NS.tns}">`), end: Buffer.from(`</${operation}Response>${ENVELOPE_END}`) };
    frames.set(operation, frame);
  }
  return frame;
}

/** Writes `operation`'s answer: `body` is its Response element, in pieces (none for a void operation). */
export function sendAnswer(res: Response, operation: string, body: readonly string[]): void {
  const { start, end } = frameOf(operation);
  const parts: Buffer[] = [start];
  let length = start.length + end.length;
  for (const piece of body) {
    const bytes = Buffer.from(piece, 'utf8');
    parts.push(bytes);
    length += bytes.length;
  }
  parts.push(end);
  res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': length });
  res.end(Buffer.concat(parts, length));
}
