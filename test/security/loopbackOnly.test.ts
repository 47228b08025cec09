import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import { blockOffLoopbackConnects } from '../support/loopbackOnly';

/** The tests' own safety net: a connection off loopback fails before any packet leaves. */
describe('blockOffLoopbackConnects', () => {
  let blocked: string[];
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  beforeEach(() => {
    blocked = blockOffLoopbackConnects();
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** A resolver for names under .test: near. is loopback, far. is a private address. */
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (error: Error | null, address: unknown, family?: number) => void) => {
    const address = hostname.startsWith('near.') ? '127.0.0.1' : '10.0.0.1';
    if (options?.all) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  }) as unknown as net.LookupFunction;

  it('refuses an IP literal outside loopback, through net.connect too', () => {
    expect(() => net.connect({ host: '10.255.255.1', port: 81 })).toThrow(/blocked a connection to 10\.255\.255\.1/);
    expect(blocked).toEqual(['10.255.255.1']);
  });

  it('refuses a name where it resolves outside loopback, through undici', async () => {
    const agent = new Agent({ connect: { lookup } });
    try {
      await expect(request(`http://far.example.test:${port}/`, { dispatcher: agent })).rejects.toThrow(/blocked a connection to far\.example\.test at 10\.0\.0\.1/);
      const near = await request(`http://near.example.test:${port}/`, { dispatcher: agent });
      expect(await near.body.text()).toBe('ok');
      expect(blocked).toEqual(['far.example.test (10.0.0.1)']);
    } finally {
      await agent.close();
    }
  });

  it('lets loopback through', async () => {
    const answer = await request(`http://127.0.0.1:${port}/`);
    expect(await answer.body.text()).toBe('ok');
    expect(blocked).toEqual([]);
  });
});
