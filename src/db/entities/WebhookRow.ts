import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { AssociateRef, StringEntry, TypedEntry } from '../../core/webhook';

/**
 * The `webhook` table. Writing a WebhookRow through its repository stores what it is given
 * after field validation (core/webhookRows.ts), with no network check: NetServer's
 * WebhookRow. Every API goes through WebhookManager instead.
 */
@Entity({ name: 'webhook' })
export class WebhookRow {
  @PrimaryGeneratedColumn({ name: 'webhook_id' })
  webhookId!: number;

  @Column({ type: 'varchar', length: 400, nullable: true })
  name!: string | null;

  /** One event name per element; a GIN index answers "who subscribes to X". */
  @Column({ type: 'text', array: true })
  events!: string[];

  @Column({ name: 'target_url', type: 'varchar', length: 4000 })
  targetUrl!: string;

  /** As given, or sealed `enc:v1:...` when SECRET_ENCRYPTION_KEY is set (db/secretBox.ts; text since SecretEnvelope1764633600000). */
  @Column({ type: 'text', nullable: true })
  secret!: string | null;

  @Column({ type: 'smallint' })
  state!: number;

  @Column({ type: 'varchar', length: 50 })
  type!: string;

  @Column({ type: 'jsonb', nullable: true })
  headers!: StringEntry[] | null;

  @Column({ type: 'jsonb', nullable: true })
  properties!: TypedEntry[] | null;

  @Column({ type: 'timestamptz' })
  registered!: Date;

  @Column({ name: 'registered_associate_id', type: 'integer', nullable: true })
  registeredAssociateId!: number | null;

  @Column({ name: 'registered_associate_name', type: 'varchar', length: 200, nullable: true })
  registeredAssociateName!: string | null;

  @Column({ type: 'timestamptz' })
  updated!: Date;

  @Column({ name: 'updated_associate_id', type: 'integer', nullable: true })
  updatedAssociateId!: number | null;

  @Column({ name: 'updated_associate_name', type: 'varchar', length: 200, nullable: true })
  updatedAssociateName!: string | null;

  @Column({ name: 'errors_email', type: 'varchar', length: 239, nullable: true })
  errorsEmail!: string | null;

  @Column({ type: 'varchar', length: 4000, nullable: true })
  description!: string | null;

  /** NetServer 12.4 members (migration NotificationMembers1765200000000). */
  @Column({ name: 'error_emails', type: 'text', array: true, default: () => "'{}'" })
  errorEmails!: string[];

  @Column({ name: 'error_associates', type: 'jsonb', default: () => "'[]'" })
  errorAssociates!: AssociateRef[];

  @Column({ name: 'notify_via', type: 'smallint', default: 0 })
  notifyVia!: number;

  @Column({ name: 'notify_when', type: 'smallint', default: 0 })
  notifyWhen!: number;

  @Column({ name: 'total_calls', type: 'integer', default: 0 })
  totalCalls!: number;

  @Column({ name: 'total_errors', type: 'integer', default: 0 })
  totalErrors!: number;

  @Column({ name: 'consecutive_errors', type: 'integer', default: 0 })
  consecutiveErrors!: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** Ordered delivery (migration LiveClaims1765000000000). */
  @Column({ type: 'boolean', default: false })
  ordered!: boolean;

  /** The Secret a rotation replaced, sealed like secret; signs beside it until previousSecretUntil (db/secretRotation.ts). */
  @Column({ name: 'previous_secret', type: 'text', nullable: true })
  previousSecret!: string | null;

  @Column({ name: 'previous_secret_until', type: 'timestamptz', nullable: true })
  previousSecretUntil!: Date | null;

  /** SHA-256 hex of the owning application's token (migration Applications1764547200000); null: no application. */
  @Column({ name: 'application_hash', type: 'char', length: 64, nullable: true })
  applicationHash!: string | null;
}
