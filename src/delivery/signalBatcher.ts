/**
 * SignalEvents that arrive together are committed together: while MAX_IN_FLIGHT statements are
 * on their way, new signals wait and then go as one statement (sql/events.ts
 * insertEventsWithDeliveries), one round trip and one commit for all of them. A lone signal goes
 * at once, as before, so batching adds no wait when the service is quiet.
 *
 * Why: at 1,000 signals/s a quarter of serve's busy time was writev to PostgreSQL, and signals
 * on up to all 8 pool connections left the in-process worker's claims and records queued behind
 * them: deliveries fell seconds behind. On the database alone (bench/signalBatch.ts, fresh
 * statistics) batches of 10 on 2 connections store 2.6-3.6x the events/s of single statements on
 * 8, batches of 50 4.6-7.2x. bench/openLoop.ts at 1,000 signals/s, alternating builds:
 * signal-to-delivery p50 21 and 123 ms (server), 18 and 358 ms (embedded), against 1,716 and
 * 2,796 ms, 31 and 2,611 ms before.
 *
 * A lone event goes as the single-event statement: the batch statement, its array lengths known
 * only at each execution, is planned anew every time (0.4 ms; 0.9 ms a call against 0.45).
 *
 * Each caller still gets its own answer once its event is committed. A batch that fails is
 * tried again one event at a time, so one event cannot fail the others.
 */
import type { DataSource } from 'typeorm';
import { insertEventsWithDeliveries, insertEventWithDeliveries, type NewEvent } from './sql/events';

/** Statements on their way at once; signals arriving meanwhile wait for one to finish. */
const MAX_IN_FLIGHT = 2;
/** The most events in one statement. */
const MAX_BATCH = 100;

interface Waiting {
  event: NewEvent;
  resolve: (deliveries: number) => void;
  reject: (error: unknown) => void;
}

export class SignalBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly ds: DataSource,
    /** HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS. */
    private readonly holdForTooManyErrors: boolean,
  ) {}

  /** Stores the event and its deliveries; resolves with its pending deliveries once committed. */
  record(event: NewEvent): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      this.send();
    });
  }

  private send(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      this.inFlight += 1;
      void this.commit(batch).finally(() => {
        this.inFlight -= 1;
        this.send();
      });
    }
  }

  private async commit(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [one] = batch;
      await insertEventWithDeliveries(this.ds, one.event, this.holdForTooManyErrors, false).then(one.resolve, one.reject);
      return;
    }
    try {
      const deliveries = await insertEventsWithDeliveries(this.ds, batch.map((w) => w.event), this.holdForTooManyErrors);
      batch.forEach((w, i) => w.resolve(deliveries[i]));
    } catch {
      // Nothing was stored (one statement): each event on its own gets its own answer.
      await Promise.all(batch.map((w) => this.commit([w])));
    }
  }
}
