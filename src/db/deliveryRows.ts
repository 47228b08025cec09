import type { DataSource, EntityManager } from 'typeorm';

/**
 * The one delivery-table statement the core needs (DeleteWebhook), kept here so that core does
 * not import the delivery engine; the engine's own statements live in delivery/sql/.
 */
export async function cancelOpenDeliveries(db: DataSource | EntityManager, webhookId: number): Promise<void> {
  await db.query(`UPDATE delivery SET status = 'cancelled', completed_at = now() WHERE webhook_id = $1 AND status IN ('pending', 'held')`, [webhookId]);
}
