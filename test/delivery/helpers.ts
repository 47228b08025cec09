/** Shared parts of the delivery tests: a signature-checking receiver, webhook creation, waiting. */
import type { ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { signSuperOffice } from '../../src/outbound/signer';
import { WebhookState, type AssociateRef, type Webhook } from '../../src/core/webhook';
import type { WebhookManager } from '../../src/core/WebhookManager';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/receiver';

export const ACTOR: AssociateRef = { associateId: 7, name: 'Test Associate' };
export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export interface Delivered {
  request: ReceivedRequest;
  payload: Record<string, any>;
}

export interface CheckingReceiver extends Receiver {
  /** Deliveries (not verification POSTs) whose signatures verified. */
  delivered: Delivered[];
  /** Requests whose signature did not verify (must stay empty). */
  badSignatures: ReceivedRequest[];
}

/**
 * A receiver that verifies X-SuperOffice-Signature itself and the Standard Webhooks signature
 * with the `standardwebhooks` package, answers verification POSTs 200, and deliveries with
 * `answer(n)` (n = deliveries seen so far, from 1), after `delayMs` (a receiver that takes its time).
 */
export async function startCheckingReceiver(
  secret: string | null,
  answer: (n: number, payload: Record<string, any>, request: ReceivedRequest) => number = () => 200,
  options: { delayMs?: number } = {},
): Promise<CheckingReceiver> {
  const delivered: Delivered[] = [];
  const badSignatures: ReceivedRequest[] = [];
  const standard = secret?.startsWith('whsec_') ? new StandardWebhook(secret) : null;
  const receiver = await startReceiver((req, res) => {
    if (secret) {
      const ours = req.headers['x-superoffice-signature'] === signSuperOffice(secret, req.body);
      let theirs = true;
      if (standard) {
        try {
          standard.verify(req.body.toString('utf8'), req.headers as Record<string, string>);
        } catch {
          theirs = false;
        }
      }
      if (!ours || !theirs) {
        badSignatures.push(req);
        res.writeHead(400).end('bad signature');
        return;
      }
    }
    if (req.headers['x-hook-test'] === 'true') {
      res.writeHead(200).end('verified');
      return;
    }
    const payload = JSON.parse(req.body.toString('utf8')) as Record<string, any>;
    delivered.push({ request: req, payload });
    const status = answer(delivered.length, payload, req);
    if (options.delayMs) setTimeout(() => res.writeHead(status).end('answer'), options.delayMs);
    else res.writeHead(status).end('answer');
  });
  return Object.assign(receiver, { delivered, badSignatures });
}

export async function createWebhook(manager: WebhookManager, target: string, events: string[], extra: Partial<Webhook> = {}): Promise<Webhook> {
  return manager.saveWebhook(
    {
      webhookId: 0,
      name: extra.name ?? `hook for ${events.join(',')}`,
      events,
      targetUrl: target,
      secret: extra.secret ?? SECRET,
      state: extra.state ?? WebhookState.Active,
      type: 'webhook',
      headers: extra.headers ?? null,
      properties: extra.properties ?? null,
      errorsEmail: extra.errorsEmail ?? null,
      description: null,
      ordered: extra.ordered ?? false,
    },
    ACTOR,
  );
}

/** Polls until `check` returns a truthy value or the time is up (then fails with `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Fails a test whose event loop stops turning (a loop spinning on resolved promises starves
 * every timer, jest's timeout too, so the test would hang instead of failing): a thread watches
 * a heartbeat and, after `limitMs` without one, writes why to stderr and kills the process.
 * Returns the function that stops watching.
 */
export function failIfEventLoopStalls(what: string, limitMs = 15_000): () => void {
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const heartbeat = setInterval(() => Atomics.add(beat, 0, 1), 100);
  const watcher = new Worker(
    `const { workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     let last = -1, since = Date.now();
     setInterval(() => {
       const now = Atomics.load(workerData.beat, 0);
       if (now !== last) { last = now; since = Date.now(); return; }
       if (Date.now() - since < workerData.limitMs) return;
       fs.writeSync(2, '\\nFAILED: the event loop made no progress for ' + workerData.limitMs + ' ms during "' + workerData.what + '" (a loop that never yields); killing the test process.\\n');
       process.kill(process.pid, 'SIGKILL');
     }, 250);`,
    { eval: true, workerData: { beat, limitMs, what } },
  );
  watcher.unref();
  return () => {
    clearInterval(heartbeat);
    void watcher.terminate();
  };
}

/** After a test: kills the worker processes it started (SIGKILL, waited for), then closes its in-process engines and receivers. */
export async function stopStarted(children: ChildProcess[], engines: Array<{ close(): Promise<void> }>, receivers: Array<{ close(): Promise<void> }>): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
}
