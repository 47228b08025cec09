/** Shared parts of the delivery tests: a signature-checking receiver, webhook creation, waiting. */
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { signSuperOffice } from '../../src/delivery/signer';
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
 * `answer(n)` (n = deliveries seen so far, from 1).
 */
export async function startCheckingReceiver(secret: string | null, answer: (n: number, payload: Record<string, any>) => number = () => 200): Promise<CheckingReceiver> {
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
    res.writeHead(answer(delivered.length, payload)).end('answer');
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
