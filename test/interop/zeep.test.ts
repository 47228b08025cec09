/**
 * Python zeep against our endpoint: once through NetServer's reference WSDL (zeep strict=False,
 * since our Webhook carries NetServer 12's trailing fields) and once through our own ?wsdl in
 * strict mode. The checks live in zeep_client.py; it exits non-zero on any mismatch.
 */
import path from 'node:path';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { describeWhen, REFERENCE_WSDL, requireCommand, requireFile, run } from './interopEnv';

// Not `python3` from PATH: a pyenv shim may shadow Debian's interpreter, which has zeep.
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'zeep_client.py');

const python = requireCommand('Python zeep (Debian python3-zeep)', PYTHON, ['-c', 'import zeep, lxml']);
const reference = requireFile("NetServer's reference WSDL", REFERENCE_WSDL);

async function runZeep(wsdl: (t: TestService) => string, mode: 'strict' | 'lax'): Promise<void> {
  const t = await startTestService();
  let receiver: Receiver | undefined;
  try {
    receiver = await startReceiver((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    const result = await run(PYTHON, [SCRIPT, t.soapUrl, t.ticket, wsdl(t), receiver.url, mode], { timeoutMs: 90000 });
    if (result.code !== 0) {
      // eslint-disable-next-line no-console
      console.error(`zeep (${mode}) exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    }
    const summary = JSON.parse(result.stdout) as { checks: number; failed: unknown[] };
    // eslint-disable-next-line no-console
    console.log(`zeep (${mode}): ${summary.checks} checks, ${summary.failed.length} failed, ${result.ms} ms`);
    expect(summary.failed).toEqual([]);
    expect(summary.checks).toBeGreaterThan(30);
    expect(result.code).toBe(0);
    // TestWebhook and the Active save each reached the receiver; the Stopped save did not verify.
    expect(receiver.requests.filter((r) => r.headers['x-hook-test'] === 'true').length).toBe(2);
  } finally {
    await receiver?.close();
    await t.stop();
  }
}

describeWhen('Python zeep client (reference WSDL, strict=False)', [python, reference], 'apt-get install python3-zeep; the reference WSDL at ../shared/reference/', () => {
  it('runs every operation against our endpoint', () => runZeep(() => REFERENCE_WSDL, 'lax'), 120000);
});

describeWhen('Python zeep client (our ?wsdl, strict)', [python], 'apt-get install python3-zeep', () => {
  it('runs every operation against our endpoint', () => runZeep((t) => t.wsdlUrl, 'strict'), 120000);
});
