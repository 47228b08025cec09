import { api, type Webhook } from './api';

/** What the webhook buttons do, shared by the list and the webhook's own page. */

export const setState = (webhook: Webhook, state: 'Active' | 'Stopped') =>
  api<Webhook>('PATCH', `/Webhook/${webhook.WebhookId}`, { State: state }, 'application/merge-patch+json');

export const testWebhook = (webhook: Webhook) => api<{ Success: boolean; Message: string }>('POST', '/Webhook/Test', webhook);

export const deleteWebhook = (webhook: Webhook) => api<void>('DELETE', `/Webhook/${webhook.WebhookId}`);

export const webhookLabel = (webhook: Webhook) => webhook.Name || `Webhook ${webhook.WebhookId}`;
