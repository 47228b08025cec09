import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** An API ticket. Only its SHA-256 is stored: a database dump does not hand out access. */
@Entity({ name: 'ticket' })
export class TicketRow {
  @PrimaryGeneratedColumn({ name: 'ticket_id' })
  ticketId!: number;

  @Column({ name: 'token_hash', type: 'char', length: 64, unique: true })
  tokenHash!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ name: 'associate_id', type: 'integer' })
  associateId!: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** SHA-256 of the application token this ticket is bound to; null: an operator's ticket. */
  @Column({ name: 'application_hash', type: 'char', length: 64, nullable: true })
  applicationHash!: string | null;
}
