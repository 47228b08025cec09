import type { EntityManager } from 'typeorm';
import { insertNotifications } from '../db/notificationOutbox';
import { findWebhookWithoutSecret } from '../db/webhookRepository';
import { notificationsFor, type StateChangeDetail } from './compose';

/**
 * Writes the notifications of state changes into the outbox, inside the caller's transaction
 * (the one that records the change): committed together, or not at all. Returns how many.
 */
export async function enqueueNotifications(tx: EntityManager, changes: Array<StateChangeDetail & { webhookId: number }>): Promise<number> {
  let count = 0;
  for (const change of changes) {
    const webhook = await findWebhookWithoutSecret(tx, change.webhookId);
    if (!webhook) continue;
    const notifications = notificationsFor(webhook, change);
    await insertNotifications(tx, notifications);
    count += notifications.length;
  }
  return count;
}
