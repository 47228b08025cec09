import http from 'node:http';
import express from 'express';
import pino from 'pino';
import { replacePlainTextErrors } from '../../src/soap/soapService';

/** node-soap answers some internal errors as plain text; the guard turns any such 500 into a SOAP fault. */
describe('plain-text error guard', () => {
  it('replaces a plain-text 500 with a soap:Server fault and leaves XML and successes alone', async () => {
    const app = express();
    app.post('/plain', (_req, res) => {
      replacePlainTextErrors(res, pino({ level: 'silent' }));
      res.statusCode = 500;
      res.end('TypeError: something inside node-soap\n    at Object.<anonymous> (/app/node_modules/soap/lib/server.js:1:1)');
    });
    app.post('/xml', (_req, res) => {
      replacePlainTextErrors(res, pino({ level: 'silent' }));
      res.statusCode = 500;
      res.end('<?xml version="1.0"?><x/>');
    });
    app.post('/ok', (_req, res) => {
      replacePlainTextErrors(res, pino({ level: 'silent' }));
      res.end('fine');
    });
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const plain = await fetch(`${base}/plain`, { method: 'POST' });
      const text = await plain.text();
      expect(plain.status).toBe(500);
      expect(plain.headers.get('content-type')).toMatch(/text\/xml/);
      expect(text).toContain('<faultcode>soap:Server</faultcode>');
      expect(text).toContain('<Succeeded xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88">false</Succeeded>');
      expect(text).not.toContain('server.js');
      expect(await (await fetch(`${base}/xml`, { method: 'POST' })).text()).toBe('<?xml version="1.0"?><x/>');
      expect(await (await fetch(`${base}/ok`, { method: 'POST' })).text()).toBe('fine');
    } finally {
      server.close();
    }
  });
});
