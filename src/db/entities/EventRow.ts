import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { TypedEntry } from '../../core/webhook';

/** The `event` table: one signalled event (SignalEvent or a webhook state change). SQL lives in delivery/sql/. */
@Entity({ name: 'event' })
export class EventRow {
  @PrimaryColumn({ name: 'event_id', type: 'uuid' })
  eventId!: string;

  @Column({ type: 'varchar', length: 400 })
  name!: string;

  @Column({ name: 'primary_key', type: 'integer' })
  primaryKey!: number;

  @Column({ type: 'jsonb', nullable: true })
  data!: TypedEntry[] | null;

  @Column({ name: 'associate_id', type: 'integer' })
  associateId!: number;

  @Column({ name: 'signalled_at', type: 'timestamptz' })
  signalledAt!: Date;

  /** W3C traceparent of the SignalEvent span (src/tracing.ts); null when tracing was off. */
  @Column({ name: 'trace_parent', type: 'varchar', length: 55, nullable: true })
  traceParent!: string | null;
}
