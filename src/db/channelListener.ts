import type { Logger } from '../logger';
import { ListenedClient } from './listenedClient';

export interface ChannelListenerOptions {
  /** The database URL to LISTEN on (a server, or the embedded server's socket). */
  url: string;
  channel: string;
  /** With the notification's payload ('' when it has none). */
  onNotification: (payload: string) => void;
  /** True once LISTEN is in effect; false when its connection is lost (notifications may be missed until the next true). */
  onListening?: (listening: boolean) => void;
  /** Logged at warn when LISTEN fails, with what the process does meanwhile. */
  failureMessage: string;
  retryMs: number;
  logger: Logger;
}

/**
 * LISTENs on one channel on a connection of its own, for as long as it runs: when the connection
 * breaks (a restart, pg_terminate_backend) it connects and LISTENs again after `retryMs`.
 */
export class ChannelListener {
  private running = false;
  private client: ListenedClient | null = null;
  private loop: Promise<void> | null = null;
  private wakeFromRetry: (() => void) | null = null;

  constructor(private readonly options: ChannelListenerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.listen();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeFromRetry?.();
    await this.client?.end().catch(() => undefined);
    await this.loop;
  }

  private async listen(): Promise<void> {
    const { url, channel, onListening, logger } = this.options;
    while (this.running) {
      // Listened to from the start: it may die the moment it connects (db/listenedClient.ts).
      let broken: () => void = () => undefined;
      const closed = new Promise<void>((resolve) => (broken = resolve));
      const client = new ListenedClient({ connectionString: url }, broken);
      client.once('end', broken);
      this.client = client;
      try {
        await client.connect();
        client.on('notification', (message) => this.options.onNotification(message.payload ?? ''));
        await client.query(`LISTEN ${channel}`);
        if (this.running) {
          onListening?.(true);
          // Wait until the connection breaks (a restart), then listen again.
          await closed;
          onListening?.(false);
        }
      } catch (error) {
        onListening?.(false);
        if (this.running) logger.warn({ err: (error as Error).message }, this.options.failureMessage);
      }
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
      this.client = null;
      if (this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.retryMs);
          this.wakeFromRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeFromRetry = null;
      }
    }
  }
}
