import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** The `delivery_attempt` table: the attempt log (kept when deliveries are cancelled). */
@Entity({ name: 'delivery_attempt' })
export class DeliveryAttemptRow {
  @PrimaryGeneratedColumn({ name: 'attempt_id', type: 'bigint' })
  attemptId!: string;

  @Column({ name: 'delivery_id', type: 'bigint' })
  deliveryId!: string;

  @Column({ name: 'webhook_id', type: 'integer' })
  webhookId!: number;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId!: string;

  /** The delivery's attempt cycle this attempt belongs to (a redelivery starts a new one). */
  @Column({ type: 'integer' })
  cycle!: number;

  @Column({ name: 'attempt_number', type: 'integer' })
  attemptNumber!: number;

  @Column({ name: 'attempted_at', type: 'timestamptz' })
  attemptedAt!: Date;

  @Column({ name: 'http_status', type: 'integer', nullable: true })
  httpStatus!: number | null;

  @Column({ name: 'latency_ms', type: 'integer' })
  latencyMs!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'response_body', type: 'varchar', length: 4096, nullable: true })
  responseBody!: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  worker!: string | null;
}
