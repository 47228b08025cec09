import type { WebhookManager } from '../core/WebhookManager';
import type { CallerContext } from '../core/caller';
import type { Webhook, WebhookInput } from '../core/webhook';
import { keepStoredTypes } from './carrierJson';

/**
 * SaveWebhook from a JSON carrier: JSON cannot say "double 1" or "dateTime", so Properties the
 * client sent back unchanged keep the type they are stored with. `existing` saves a second read
 * when the route already has the webhook.
 */
export async function saveWebhookJson(manager: WebhookManager, input: WebhookInput, caller: CallerContext, existing?: Webhook | null): Promise<Webhook> {
  if (input.webhookId > 0 && input.properties) {
    const stored = existing === undefined ? await manager.getCurrentWebhook(input.webhookId, caller) : existing;
    input = { ...input, properties: keepStoredTypes(input.properties, stored?.properties ?? null) };
  }
  return manager.saveWebhook(input, caller);
}
