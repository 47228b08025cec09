/**
 * node-soap alone, for bench/soapFloor.ts: express and node-soap with the project's WSDL, every
 * operation answering the fixed body it is given (no guard, no ticket, no database), with the
 * same options and Succeeded header as serve. Prints its port on stdout.
 */
import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import * as soap from 'soap';

const { responseXml } = JSON.parse(fs.readFileSync(process.env.FLOOR_RESPONSE_FILE!, 'utf8')) as { responseXml: string };
const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const app = express();
app.disable('x-powered-by');
app.use('/Remote/Services88/Webhook.svc', express.raw({ type: () => true }));
const answer = async () => ({ $xml: responseXml });
const port = Object.fromEntries(['CreateDefaultWebhook', 'SaveWebhook', 'GetWebhook', 'GetAllWebhooks', 'DeleteWebhook', 'TestWebhook', 'SignalEvent', 'GetLastError'].map((name) => [name, answer]));
const server = app.listen(0, '127.0.0.1', () => {
  const soapServer = soap.listen(app, {
    path: '/Remote/Services88/Webhook.svc',
    services: { WcfWebhookService: { BasicHttpBinding_Webhook: port } },
    xml: fs.readFileSync(path.join(__dirname, '..', 'wsdl', 'WebhookAgent.wsdl'), 'utf8'),
    suppressStack: true,
    enableChunkedEncoding: false,
    callback: () => process.stdout.write(`${(server.address() as { port: number }).port}\n`),
  } as soap.IServerOptions);
  soapServer.addSoapHeader(`<Succeeded xmlns="${TNS}">true</Succeeded>`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
