/**
 * The email to a webhook's ErrorsEmail when it becomes TooManyErrors. Sent after the commit,
 * with timeouts, never awaited by delivery: an unreachable SMTP server only costs a log line.
 */
import * as nodemailer from 'nodemailer';
import type { Logger } from '../logger';

export interface TooManyErrorsNotice {
  webhookId: number;
  name: string | null;
  targetUrl: string;
  errorsEmail: string | null;
  lastError: string | null;
  /** The EventId of the attempt that tripped it. */
  eventId: string | null;
}

export interface MailerOptions {
  smtpUrl: string | null;
  smtpFrom: string;
  timeoutMs: number;
}

export class ErrorMailer {
  private readonly transport: nodemailer.Transporter | null;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly options: MailerOptions,
    private readonly logger: Logger,
  ) {
    this.transport = options.smtpUrl
      ? nodemailer.createTransport({
          url: options.smtpUrl,
          connectionTimeout: options.timeoutMs,
          greetingTimeout: options.timeoutMs,
          socketTimeout: options.timeoutMs,
        } as nodemailer.TransportOptions)
      : null;
  }

  /** Fire and forget; close() waits for what is still being sent. */
  notifyTooManyErrors(notice: TooManyErrorsNotice): void {
    if (!notice.errorsEmail) return;
    if (!this.transport) {
      this.logger.warn({ webhookId: notice.webhookId }, 'webhook stopped with TooManyErrors; no SMTP_URL is configured, so no email was sent to its ErrorsEmail');
      return;
    }
    const sending = this.send(notice).finally(() => this.pending.delete(sending));
    this.pending.add(sending);
  }

  private async send(notice: TooManyErrorsNotice): Promise<void> {
    const label = notice.name ? `"${notice.name}" (id ${notice.webhookId})` : `id ${notice.webhookId}`;
    const text = [
      `Webhook ${label} has been stopped with state TooManyErrors: it gets no more deliveries until it is set Active again.`,
      '',
      `Webhook: ${notice.name ?? ''}`,
      `WebhookId: ${notice.webhookId}`,
      `Target: ${notice.targetUrl}`,
      `Last error: ${notice.lastError ?? ''}`,
      `Failing EventId: ${notice.eventId ?? ''}`,
      '',
      'Pending deliveries are held, not dropped. Fix the receiver, then save the webhook with State Active (the target is verified again).',
    ].join('\n');
    try {
      await this.transport!.sendMail({
        from: this.options.smtpFrom,
        to: notice.errorsEmail!,
        subject: `Webhook ${label} stopped: TooManyErrors`,
        text,
      });
      this.logger.info({ webhookId: notice.webhookId }, 'sent the TooManyErrors email');
    } catch (error) {
      this.logger.error({ webhookId: notice.webhookId, err: (error as Error).message }, 'could not send the TooManyErrors email');
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    this.transport?.close();
  }
}
