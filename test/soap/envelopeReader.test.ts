import http from 'node:http';
import net from 'node:net';
import express from 'express';
import * as soap from 'soap';
import { OPERATION_NAMES, type OperationName } from '../../src/core/operations';
import { checkEnvelope } from '../../src/soap/envelopeGuard';
import { readEnvelope } from '../../src/soap/envelopeReader';
import { operationArguments } from '../../src/soap/requestMapping';
import { NODE_SOAP_DESERIALIZER, renderWsdl } from '../../src/soap/soapService';

/**
 * The envelope reader (soap/envelopeReader.ts) answers most requests without node-soap. Every
 * envelope here goes through both: node-soap as the service configures it (the same WSDL and
 * deserializer, on a real HTTP server) and the reader. Where the reader takes an envelope, the
 * operation must get the same arguments (or the same refusal) and the same headers; the shapes
 * whose meaning node-soap takes from the schema must be left to node-soap.
 */

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const ARRAYS = 'http://schemas.microsoft.com/2003/10/Serialization/Arrays';
const CREDENTIALS = `<Credentials xmlns="${TNS}"><Ticket>7T:abc</Ticket></Credentials>`;
const envelope = (body: string, header: string | null = CREDENTIALS) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">${header === null ? '' : `<s:Header>${header}</s:Header>`}<s:Body>${body}</s:Body></s:Envelope>`;
/** A SignalEvent whose Data holds `pairs` (the inside of its StringObjectKeyValuePair elements), with XML Schema's prefix b declared. */
const signal = (pairs: string) =>
  envelope(`<SignalEvent xmlns="${TNS}"><EventName>e</EventName><PrimaryKey>1</PrimaryKey><Data xmlns:b="http://www.w3.org/2001/XMLSchema"><StringObjectKeyValuePair>${pairs}</StringObjectKeyValuePair></Data></SignalEvent>`);
const save = (carrier: string, operation = 'SaveWebhook') => envelope(`<${operation} xmlns="${TNS}"><Webhook>${carrier}</Webhook></${operation}>`);

const FULL_CARRIER =
  `<WebhookId>12</WebhookId><Name>  Orders &amp; &lt;more&gt;  </Name>` +
  `<Events xmlns:a="${ARRAYS}"><a:string>contact.created</a:string><a:string>sale.changed</a:string></Events>` +
  `<TargetUrl>https://example.com/hook?a=1&amp;b=2</TargetUrl><Secret>s3cret-value-of-enough-length</Secret><State>Active</State><Type>webhook</Type>` +
  `<Headers><StringKeyValuePair><Key>X-One</Key><Value>1</Value></StringKeyValuePair></Headers>` +
  `<Properties><StringObjectKeyValuePair><Key>p</Key><Value>text</Value></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>q</Key><Value>2</Value></StringObjectKeyValuePair></Properties>` +
  `<ErrorEmails xmlns:a="${ARRAYS}"><a:string>ops@example.com</a:string></ErrorEmails>` +
  `<ErrorAssociates><MDOListItem><Id>5</Id><Name>Ada</Name></MDOListItem></ErrorAssociates>` +
  `<NotifyVia>Email InApp</NotifyVia><NotifyWhen>FirstFailure</NotifyWhen><Ordered>true</Ordered><Description>line one\nline two</Description>`;

/** Envelopes the reader must take, as clients send them. */
const TAKEN: Array<[string, OperationName, string]> = [
  ['GetWebhook', 'GetWebhook', envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>5</WebhookId></GetWebhook>`)],
  ['prefixed and indented', 'GetWebhook', envelope(`\n  <ns:GetWebhook xmlns:ns="${TNS}">\n    <ns:WebhookId> 42 </ns:WebhookId>\n  </ns:GetWebhook>\n`)],
  ['ApplicationToken header', 'GetWebhook', envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId></GetWebhook>`, `<ApplicationToken xmlns="${TNS}">app-1</ApplicationToken>${CREDENTIALS}`)],
  ['no header', 'DeleteWebhook', envelope(`<DeleteWebhook xmlns="${TNS}"><WebhookId>3</WebhookId></DeleteWebhook>`, null)],
  ['an unknown element beside', 'GetLastError', envelope(`<GetLastError xmlns="${TNS}"><WebhookId>3</WebhookId><Extra>x</Extra></GetLastError>`)],
  ['a full carrier', 'SaveWebhook', save(FULL_CARRIER)],
  ['escaped markup, decoded once', 'SaveWebhook', save(`<Name>a &amp;lt; b &quot;q&apos; &gt; &amp;amp;</Name>`)],
  ['a carrier with one of each item', 'TestWebhook', save(`<Name>n</Name><Events><string>a</string></Events><Headers><StringKeyValuePair><Key>k</Key><Value>v</Value></StringKeyValuePair><StringKeyValuePair><Key>k2</Key><Value>v2</Value></StringKeyValuePair></Headers><Properties><StringObjectKeyValuePair><Key>only</Key><Value>1</Value></StringObjectKeyValuePair></Properties>`, 'TestWebhook')],
  ['GetAllWebhooks filters', 'GetAllWebhooks', envelope(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>ord</NameFilter><EventFilter>sale.changed</EventFilter><StatusFilter>Stopped</StatusFilter></GetAllWebhooks>`)],
  ['SignalEvent with data', 'SignalEvent', envelope(`<SignalEvent xmlns="${TNS}"><EventName>contact.created</EventName><PrimaryKey>17</PrimaryKey><Data><StringObjectKeyValuePair><Key>a</Key><Value>1</Value></StringObjectKeyValuePair></Data></SignalEvent>`)],
  // Typed and nil dictionary values, as .NET's XmlSerializer and zeep write object values.
  ['typed values', 'SignalEvent', signal(`<Key>n</Key><Value i:type="b:int">5</Value></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>b</Key><Value i:type="b:boolean"> true </Value></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>s</Key><Value i:type="b:string"></Value></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>d</Key><Value i:type="b:dateTime">2024-01-31T12:00:00</Value>`)],
  ['a nil value', 'SignalEvent', signal(`<Key>gone</Key><Value i:nil="true"/></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>kept</Key><Value>1</Value>`)],
  ['typed Properties', 'SaveWebhook', save(`<WebhookId>0</WebhookId><Name>p</Name><Properties xmlns:b="http://www.w3.org/2001/XMLSchema"><StringObjectKeyValuePair><Key>i</Key><Value i:type="b:int">7</Value></StringObjectKeyValuePair><StringObjectKeyValuePair><Key>x</Key><Value i:nil="true"></Value></StringObjectKeyValuePair></Properties>`)],
  ['a nil header value', 'SaveWebhook', save(`<Name>h</Name><Headers><StringKeyValuePair><Key>X-A</Key><Value i:nil="true"/></StringKeyValuePair></Headers>`)],
  ['a type that is not allowed', 'SignalEvent', signal(`<Key>k</Key><Value i:type="b:base64Binary">AA==</Value>`)],
  ['a typed value that is not its type', 'SignalEvent', signal(`<Key>k</Key><Value i:type="b:int">five</Value>`)],
  // Refused alike: the same message for the caller.
  ['an int that is not', 'GetWebhook', envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1 OR 1=1</WebhookId></GetWebhook>`)],
  ['elements where text belongs', 'SaveWebhook', save(`<Name><x>1</x></Name>`)],
  ['an unknown state', 'GetAllWebhooks', envelope(`<GetAllWebhooks xmlns="${TNS}"><StatusFilter>Sleeping</StatusFilter></GetAllWebhooks>`)],
  ['flags that are not', 'SaveWebhook', save(`<NotifyVia>Pigeon</NotifyVia>`)],
  ['a boolean that is not', 'SaveWebhook', save(`<Ordered>maybe</Ordered>`)],
  ['an int past 32 bits', 'SignalEvent', envelope(`<SignalEvent xmlns="${TNS}"><EventName>e</EventName><PrimaryKey>4294967296</PrimaryKey></SignalEvent>`)],
];

/** Envelopes whose reading depends on the schema: node-soap's. */
const LEFT: Array<[string, OperationName, string]> = [
  ['a nil member', 'SaveWebhook', save(`<WebhookId>0</WebhookId><Name i:nil="true"/><TargetUrl>https://example.com</TargetUrl>`)],
  ['an empty member', 'SaveWebhook', save(`<Name/><Headers/>`)],
  ['an empty operation', 'CreateDefaultWebhook', envelope(`<CreateDefaultWebhook xmlns="${TNS}"/>`)],
  ['a Value with two attributes', 'SignalEvent', signal(`<Key>k</Key><Value i:type="b:int" i:nil="true">5</Value>`)],
  ['a Value nil="false"', 'SignalEvent', signal(`<Key>k</Key><Value i:nil="false">5</Value>`)],
  ['a typed Value holding elements', 'SignalEvent', signal(`<Key>k</Key><Value i:type="b:string"><x>1</x></Value>`)],
  ['a typed element that is not a dictionary Value', 'SaveWebhook', save(`<Name i:type="b:string">n</Name>`)],
  ['a character reference', 'SaveWebhook', save(`<Name>&#65;da</Name>`)],
  ['CDATA', 'SaveWebhook', save(`<Name><![CDATA[<b>]]></Name>`)],
  ['a repeated member', 'SaveWebhook', save(`<Name>a</Name><Name>b</Name>`)],
  ['a whitespace-only member', 'SaveWebhook', save(`<Name>   </Name>`)],
];

/** What an operation is given, or the message it refuses with. */
function argumentsOf(operation: OperationName, args: unknown): unknown {
  try {
    return { arguments: Object.fromEntries(operationArguments(operation, args)) };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}

describe('the envelope reader gives operations what node-soap gives them', () => {
  let server: http.Server;
  let url: string;
  const received: Array<{ args: unknown; headers: unknown }> = [];

  beforeAll(async () => {
    const app = express();
    app.use(express.raw({ type: () => true }));
    const port: Record<string, unknown> = {};
    for (const name of OPERATION_NAMES) {
      port[name] = (args: unknown, _callback: unknown, headers: unknown) => {
        received.push({ args, headers });
        return {};
      };
    }
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/soap`;
    await new Promise<void>((resolve) =>
      soap.listen(app, {
        path: '/soap',
        services: { WcfWebhookService: { BasicHttpBinding_Webhook: port } },
        xml: renderWsdl('http://127.0.0.1'),
        customDeserializer: NODE_SOAP_DESERIALIZER,
        callback: () => resolve(),
      } as soap.IServerOptions),
    );
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function nodeSoapReads(xml: string): Promise<{ args: unknown; headers: unknown }> {
    received.length = 0;
    const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8' }, body: xml });
    await answer.text();
    expect(received).toHaveLength(1);
    return received[0];
  }

  function guarded(xml: string, operation: OperationName): string {
    const verdict = checkEnvelope(Buffer.from(xml), undefined);
    if (!verdict.ok) throw new Error(`the guard refused the test envelope: ${verdict.message}`);
    expect(verdict.operation).toBe(operation);
    return verdict.xml;
  }

  it.each(TAKEN)('takes %s, with the same arguments and headers', async (_name, operation, xml) => {
    const read = readEnvelope(guarded(xml, operation), operation);
    expect(read).not.toBeNull();
    const reference = await nodeSoapReads(xml);
    expect(argumentsOf(operation, read!.args)).toEqual(argumentsOf(operation, reference.args));
    expect(read!.headers ?? null).toEqual(reference.headers ?? null);
  });

  it.each(LEFT)('leaves %s to node-soap', (_name, operation, xml) => {
    expect(readEnvelope(guarded(xml, operation), operation)).toBeNull();
  });

  /** What the reader gives the operation for the TAKEN envelope named `name`. */
  function readArguments(name: string): Record<string, unknown> {
    const [, operation, xml] = TAKEN.find(([taken]) => taken === name)!;
    const read = readEnvelope(guarded(xml, operation), operation)!;
    return (argumentsOf(operation, read.args) as { arguments: Record<string, unknown> }).arguments;
  }

  it('reads typed and nil values as typed entries, so their comparison above compares something', () => {
    expect(readArguments('typed values').Data).toEqual([
      { key: 'n', type: 'int', value: 5 },
      { key: 'b', type: 'boolean', value: true },
      { key: 's', type: 'string', value: '' },
      { key: 'd', type: 'dateTime', value: '2024-01-31T12:00:00.000Z' },
    ]);
    expect(readArguments('a nil value').Data).toEqual([
      { key: 'gone', type: null, value: null },
      { key: 'kept', type: 'string', value: '1' },
    ]);
  });

  it('decodes escaped markup once', () => {
    const read = readEnvelope(guarded(save(`<Name>a &amp;lt; b &amp;amp;</Name>`), 'SaveWebhook'), 'SaveWebhook')!;
    expect((read.args.Webhook as Record<string, unknown>).Name).toBe('a &lt; b &amp;');
  });

  it('reads every argument of the full carrier, so the comparison above compares something', () => {
    const mapped = readArguments('a full carrier').Webhook as Record<string, unknown>;
    expect(mapped).toMatchObject({
      webhookId: 12,
      name: 'Orders & <more>',
      events: ['contact.created', 'sale.changed'],
      targetUrl: 'https://example.com/hook?a=1&b=2',
      headers: [{ key: 'X-One', value: '1' }],
      errorEmails: ['ops@example.com'],
      errorAssociates: [{ associateId: 5, name: 'Ada' }],
      ordered: true,
      description: 'line one\nline two',
    });
    expect(mapped.properties).toEqual([
      { key: 'p', type: 'string', value: 'text' },
      { key: 'q', type: 'string', value: '2' },
    ]);
  });
});
