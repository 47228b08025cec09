/**
 * What the worker knows of a webhook it just set TooManyErrors. The email itself is no longer
 * sent from here: it is a notification in the outbox (notifications/), written in the same
 * transaction as the state change and sent by NotificationSender with retries.
 */
export interface TooManyErrorsNotice {
  webhookId: number;
  name: string | null;
  targetUrl: string;
  errorsEmail: string | null;
  lastError: string | null;
  /** The EventId of the attempt that tripped it. */
  eventId: string | null;
}
