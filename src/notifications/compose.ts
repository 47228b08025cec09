/**
 * Which notifications a webhook's state change produces (NetServer 12.4's NotifyWhen/NotifyVia),
 * and their text. Pure: no database, no clock.
 *
 * - NotifyWhen None with NotifyVia None (a webhook saved without the 12.4 members): as before
 *   12.4, an email to ErrorsEmail when it becomes TooManyErrors, nothing else.
 * - Otherwise NotifyWhen picks the moments (FirstFailure: the first failed attempt after a
 *   success; Disabling: the change to TooManyErrors) and NotifyVia the channels (NotifyVia None
 *   with a NotifyWhen set means Email). Email goes to ErrorsEmail and every ErrorEmails address
 *   (associates have no address known to this service); InApp is stored for the API to list,
 *   addressed to the ErrorAssociates (to every caller who sees the webhook when there are none).
 */
import { NotifyVia, NotifyWhen, type Webhook } from '../core/webhook';
import type { NewNotification, NotificationReason } from '../db/notificationOutbox';

export interface StateChangeDetail {
  reason: NotificationReason;
  lastError: string | null;
  /** The EventId of the failing attempt. */
  eventId: string | null;
  consecutiveErrorLimit: number;
}

export function addressesOf(webhook: Pick<Webhook, 'errorsEmail' | 'errorEmails'>): string[] {
  const fromErrorsEmail = (webhook.errorsEmail ?? '').split(/[,;]/).map((a) => a.trim()).filter((a) => a !== '');
  return [...new Set([...fromErrorsEmail, ...webhook.errorEmails])];
}

export function notificationsFor(webhook: Webhook, detail: StateChangeDetail): NewNotification[] {
  const legacy = webhook.notifyWhen === NotifyWhen.None && webhook.notifyVia === NotifyVia.None;
  const when = legacy ? NotifyWhen.Disabling : webhook.notifyWhen;
  if ((when & NotifyWhen[detail.reason]) === 0) return [];
  const via = legacy || webhook.notifyVia === NotifyVia.None ? NotifyVia.Email : webhook.notifyVia;
  const { subject, body } = text(webhook, detail);
  const base = { webhookId: webhook.webhookId, webhookName: webhook.name, application: webhook.application, reason: detail.reason, subject, body };
  const result: NewNotification[] = [];
  const recipients = legacy ? addressesOf({ errorsEmail: webhook.errorsEmail, errorEmails: [] }) : addressesOf(webhook);
  if (via & NotifyVia.Email && recipients.length > 0) result.push({ ...base, channel: 'Email', recipients, associateIds: [] });
  if (via & NotifyVia.InApp) result.push({ ...base, channel: 'InApp', recipients: [], associateIds: webhook.errorAssociates.map((a) => a.associateId) });
  return result;
}

function text(webhook: Webhook, detail: StateChangeDetail): { subject: string; body: string } {
  const label = webhook.name ? `"${webhook.name}" (id ${webhook.webhookId})` : `id ${webhook.webhookId}`;
  const facts = [
    `Webhook: ${webhook.name ?? ''}`,
    `WebhookId: ${webhook.webhookId}`,
    `Target: ${webhook.targetUrl ?? ''}`,
    `Last error: ${detail.lastError ?? ''}`,
    `Failing EventId: ${detail.eventId ?? ''}`,
  ];
  if (detail.reason === 'Disabling') {
    return {
      subject: `Webhook ${label} stopped: TooManyErrors`,
      body: [
        `Webhook ${label} has been stopped with state TooManyErrors: it gets no more deliveries until it is set Active again.`,
        '',
        ...facts,
        '',
        'Pending deliveries are held, not dropped. Fix the receiver, then save the webhook with State Active (the target is verified again).',
      ].join('\n'),
    };
  }
  return {
    subject: `Webhook ${label} failed a delivery`,
    body: [
      `Webhook ${label} failed a delivery after succeeding before. Deliveries are retried; after ${detail.consecutiveErrorLimit} consecutive errors the webhook is stopped (TooManyErrors).`,
      '',
      ...facts,
    ].join('\n'),
  };
}
