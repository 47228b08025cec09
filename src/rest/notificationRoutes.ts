import express, { type Router } from 'express';
import type { DataSource } from 'typeorm';
import { readInAppNotifications, type StoredNotification } from '../db/notificationOutbox';
import { callerOf } from './auth';
import type { JsonObject } from './carrierJson';

/**
 * GET api/v1/Webhook/Notifications: the caller's InApp notifications (NotifyVia InApp), newest
 * first; listing marks them read, and each says whether it had been read before.
 */

const LIMIT = 200;

function notificationJson(n: StoredNotification): JsonObject {
  return {
    NotificationId: n.notificationId,
    WebhookId: n.webhookId,
    WebhookName: n.webhookName,
    Reason: n.reason,
    Subject: n.subject,
    Message: n.body,
    Created: n.createdAt.toISOString(),
    Read: n.readAt !== null,
  };
}

export function notificationRouter(ds: DataSource): Router {
  const router = express.Router();
  router.get('/Webhook/Notifications', async (_req, res) => {
    const caller = callerOf(res);
    const notifications = await readInAppNotifications(ds, caller.application, caller.associate.associateId, LIMIT);
    res.json(notifications.map(notificationJson));
  });
  return router;
}
