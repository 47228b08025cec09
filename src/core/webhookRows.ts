import type { DataSource } from 'typeorm';
import { deleteWebhookRow, findWebhook, insertWebhook, updateWebhook } from '../db/webhookRepository';
import { NotFoundError } from './errors';
import { validateWebhookFields, type TargetPolicy } from './validation';
import { createDefaultWebhook, WebhookState, type Webhook, type WebhookInput } from './webhook';

/**
 * NetServer's WebhookRow: stores what it is given after field validation, with no network
 * check of the target. For migrations, imports, admin tools and tests; the APIs use WebhookManager.
 */
export class WebhookRows {
  constructor(
    private readonly ds: DataSource,
    private readonly policy: TargetPolicy,
  ) {}

  async save(input: WebhookInput & Partial<Webhook>): Promise<Webhook> {
    const valid = validateWebhookFields(input, this.policy);
    const now = new Date();
    if (valid.webhookId > 0) {
      const existing = await findWebhook(this.ds, valid.webhookId);
      if (!existing) throw new NotFoundError(`There is no webhook with WebhookId ${valid.webhookId}.`);
      return updateWebhook(this.ds, { ...existing, ...input, ...valid, state: valid.state || existing.state, updated: now });
    }
    return insertWebhook(this.ds, {
      ...createDefaultWebhook(),
      ...input,
      ...valid,
      state: valid.state || WebhookState.Active,
      registered: input.registered ?? now,
      updated: input.updated ?? now,
    });
  }

  async get(webhookId: number): Promise<Webhook | null> {
    return findWebhook(this.ds, webhookId);
  }

  async delete(webhookId: number): Promise<boolean> {
    return deleteWebhookRow(this.ds, webhookId);
  }
}
