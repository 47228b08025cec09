/**
 * .NET-style interop through Mono: `wsdl` generates a SoapHttpClientProtocol proxy from
 * NetServer's reference WSDL, `mcs` compiles it with dotnet/Program.cs into .interop-build/
 * (gitignored; generated code is never committed), `mono` runs it against our endpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { describeWhen, REFERENCE_WSDL, REPO_ROOT, requireCommand, requireFile, run, type RunResult } from './interopEnv';

const BUILD_DIR = path.join(REPO_ROOT, '.interop-build', 'dotnet');
const PROGRAM = path.join(__dirname, 'dotnet', 'Program.cs');

const requirements = [
  requireCommand('mono (Debian mono-devel)', 'mono', ['--version']),
  requireCommand('mcs (Debian mono-devel)', 'mcs', ['--version']),
  requireCommand("Mono's wsdl tool (Debian mono-devel)", 'wsdl', []),
  requireFile("NetServer's reference WSDL", REFERENCE_WSDL),
];

function ok(step: string, result: RunResult): void {
  if (result.code !== 0) throw new Error(`${step} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
}

/**
 * The generated header member `Credentials` hides SoapHttpClientProtocol's inherited
 * `Credentials` (ICredentials), so Mono cannot bind the SoapHeader to it: rename it, and the
 * SoapHeaderAttribute member names that point at it, to `CredentialsValue`.
 */
function renameCredentialsHeader(source: string): string {
  const property = /public SoCredentials Credentials \{/g;
  const attribute = /SoapHeaderAttribute\("Credentials"\)/g;
  if (!property.test(source) || !attribute.test(source)) {
    throw new Error('the generated proxy no longer has the `Credentials` header member this build renames: check the wsdl tool output');
  }
  return source.replace(property, 'public SoCredentials CredentialsValue {').replace(attribute, 'SoapHeaderAttribute("CredentialsValue")');
}

describeWhen('.NET SoapHttpClientProtocol proxy (Mono) from the reference WSDL', requirements, 'apt-get install mono-devel; the reference WSDL at ../shared/reference/', () => {
  let t: TestService;
  let receiver: Receiver;
  const exe = path.join(BUILD_DIR, 'interop.exe');

  beforeAll(async () => {
    fs.rmSync(BUILD_DIR, { recursive: true, force: true });
    fs.mkdirSync(BUILD_DIR, { recursive: true });
    const proxy = path.join(BUILD_DIR, 'Proxy.cs');
    const started = Date.now();
    ok('wsdl', await run('wsdl', ['-nologo', `-out:${proxy}`, '-namespace:Services88', REFERENCE_WSDL], { cwd: BUILD_DIR }));
    fs.writeFileSync(proxy, renameCredentialsHeader(fs.readFileSync(proxy, 'utf8')));
    ok('mcs', await run('mcs', ['-nologo', '-target:exe', `-out:${exe}`, '-r:System.Web.Services.dll', '-r:System.Xml.dll', proxy, PROGRAM], { cwd: BUILD_DIR }));
    // eslint-disable-next-line no-console
    console.log(`Mono proxy generated and compiled in ${Date.now() - started} ms`);
    t = await startTestService();
    receiver = await startReceiver((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  }, 120000);
  afterAll(async () => {
    await receiver?.close();
    await t?.stop();
  });

  it('runs Create/Save/Get/GetAll/Delete and a wrong-ticket fault against our endpoint', async () => {
    const result = await run('mono', [exe, t.soapUrl, t.ticket, receiver.url], { cwd: BUILD_DIR, timeoutMs: 90000 });
    // eslint-disable-next-line no-console
    const log = result.code === 0 ? console.log : console.error;
    log(`mono exited ${result.code} in ${result.ms} ms: ${result.stdout.trim().split('\n').pop()}${result.code === 0 ? '' : `\n${result.stdout}\nstderr:\n${result.stderr}`}`);
    expect(result.stdout.split('\n').filter((line) => line.startsWith('FAIL'))).toEqual([]);
    expect(result.stdout).toMatch(/^(\d+) checks, 0 failed$/m);
    expect(result.code).toBe(0);
    // Only the Active save verified its target; the Stopped save must not have.
    expect(receiver.requests.filter((r) => r.headers['x-hook-test'] === 'true').length).toBe(1);
  }, 120000);
});
