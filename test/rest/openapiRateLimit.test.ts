/**
 * The OpenAPI document describes the rate limit (429 with Retry-After) and the SO-AppToken
 * header on every authenticated operation; a real 429 matches what it documents.
 */
import Ajv2020 from 'ajv/dist/2020';
import { startTestService, type TestService } from '../support/testService';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ RATE_LIMIT_PER_MINUTE: '2' });
});
afterAll(() => t.stop());

it('documents 429 (with Retry-After) and SO-AppToken on every operation that needs a ticket, and a real 429 matches it', async () => {
  const doc = (await (await fetch(`${t.service.url}/api/v1/openapi.json`)).json()) as any;
  const operations = Object.entries(doc.paths).flatMap(([path, item]: [string, any]) => Object.entries(item).map(([method, op]: [string, any]) => ({ route: `${method} ${path}`, op })));
  const authenticated = operations.filter(({ op }) => op.responses['401']);
  expect(authenticated.length).toBeGreaterThanOrEqual(18);
  for (const { route, op } of authenticated) {
    expect([route, op.responses['429']]).toEqual([route, { $ref: '#/components/responses/Error429' }]);
    expect([route, op.parameters?.[0]]).toEqual([route, { $ref: '#/components/parameters/SoAppToken' }]);
  }
  expect(doc.components.parameters.SoAppToken).toMatchObject({ name: 'SO-AppToken', in: 'header', required: false });
  expect(doc.components.responses.Error429.headers['Retry-After'].schema).toEqual({ type: 'integer', minimum: 1 });

  const call = () => fetch(`${t.service.url}/api/v1/Webhook`, { headers: { authorization: `Bearer ${t.ticket}`, 'so-apptoken': 'app-1' } });
  expect((await call()).status).toBe(200);
  expect((await call()).status).toBe(200);
  const limited = await call();
  expect(limited.status).toBe(429);
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema(doc, 'openapi');
  const validate = ajv.compile({ $ref: 'openapi#/components/responses/Error429/content/application~1json/schema' });
  expect(validate(await limited.json())).toBe(true);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
});
