import type * as nodemailer from 'nodemailer';
import type { DataSource } from 'typeorm';
import { claimDueNotifications, markNotificationSent, retryNotification, type StoredNotification } from '../db/notificationOutbox';
import type { Logger } from '../logger';

/**
 * Sends the outbox's Email notifications: claims due ones (SKIP LOCKED, a lease), sends each over
 * SMTP and records the result; a failure is retried after 1 s, 4 s, 16 s and 60 s, then kept as
 * failed with its error. Runs beside each delivery worker; any number may share a database.
 */

export interface SenderOptions {
  smtpUrl: string | null;
  smtpFrom: string;
  smtpTimeoutMs: number;
  pollIntervalMs: number;
}

export const NOTIFICATION_RETRY_MS: readonly number[] = [1000, 4000, 16_000, 60_000];
const BATCH = 20;

export class NotificationSender {
  private readonly transport: nodemailer.Transporter | null;
  private running = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly options: SenderOptions,
    private readonly logger: Logger,
  ) {
    const t = options.smtpTimeoutMs;
    // Loaded only where mail is configured: a process that sends none need not hold nodemailer.
    this.transport = options.smtpUrl
      ? (require('nodemailer') as typeof nodemailer).createTransport({ url: options.smtpUrl, connectionTimeout: t, greetingTimeout: t, socketTimeout: t } as nodemailer.TransportOptions)
      : null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Notifications may be due: look now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    this.transport?.close();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        // The lease outlasts one SMTP exchange (connect, greet, send) of each in the batch.
        const due = await claimDueNotifications(this.ds, BATCH, BATCH * 3 * this.options.smtpTimeoutMs);
        claimed = due.length;
        for (const notification of due) await this.send(notification);
      } catch (error) {
        this.logger.error({ err: (error as Error).message }, 'claiming notifications to send failed; retrying');
      }
      if (claimed < BATCH && this.running) await this.sleep(this.options.pollIntervalMs);
    }
  }

  private async send(notification: StoredNotification): Promise<void> {
    const context = { notificationId: notification.notificationId, webhookId: notification.webhookId, reason: notification.reason };
    if (!this.transport) {
      this.logger.warn(context, 'a webhook notification is due by email, but no SMTP_URL is configured: it was not sent');
      await retryNotification(this.ds, notification.notificationId, null, 'No SMTP_URL is configured.');
      return;
    }
    try {
      await this.transport.sendMail({ from: this.options.smtpFrom, to: notification.recipients, subject: notification.subject, text: notification.body });
      await markNotificationSent(this.ds, notification.notificationId);
      this.logger.info(context, 'sent a webhook notification email');
    } catch (error) {
      const delay = NOTIFICATION_RETRY_MS[notification.attempts - 1] ?? null;
      this.logger.warn({ ...context, err: (error as Error).message, retryInMs: delay }, 'could not send a webhook notification email');
      await retryNotification(this.ds, notification.notificationId, delay, (error as Error).message);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = () => {
        if (this.timer) clearTimeout(this.timer);
        this.wakeUp = null;
        resolve();
      };
      this.timer = setTimeout(() => this.wakeUp?.(), ms);
    });
  }
}
