import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type DeliveryStatus = 'pending' | 'held' | 'succeeded' | 'failed' | 'cancelled';

/** The `delivery` table: one event to one webhook. SQL lives in delivery/sql/. */
@Entity({ name: 'delivery' })
export class DeliveryRow {
  @PrimaryGeneratedColumn({ name: 'delivery_id', type: 'bigint' })
  deliveryId!: string;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId!: string;

  @Column({ name: 'webhook_id', type: 'integer' })
  webhookId!: number;

  @Column({ type: 'varchar', length: 10 })
  status!: DeliveryStatus;

  /** Attempt cycle: 1, then one more per redelivery. */
  @Column({ type: 'integer' })
  cycle!: number;

  /** Attempts recorded so far. */
  @Column({ type: 'integer' })
  attempts!: number;

  /** When it is due; while claimed, the lease expiry. */
  @Column({ name: 'run_at', type: 'timestamptz' })
  runAt!: Date;

  @Column({ name: 'locked_by', type: 'varchar', length: 200, nullable: true })
  lockedBy!: string | null;

  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;
}
