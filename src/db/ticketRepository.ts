import type { DataSource } from 'typeorm';
import { IsNull } from 'typeorm';
import { TicketRow } from './entities/TicketRow';
import { preparedQuery } from './preparedQuery';

/** The ticket table's queries. */

export async function insertTicket(ds: DataSource, ticket: { tokenHash: string; name: string; associateId: number; applicationHash: string | null }): Promise<TicketRow> {
  const repository = ds.getRepository(TicketRow);
  return repository.save(repository.create({ ...ticket, createdAt: new Date(), revokedAt: null }));
}

/** Every request whose ticket is not cached asks this: a prepared statement, no entity hydration. */
export async function findActiveTicketByHash(ds: DataSource, tokenHash: string): Promise<Pick<TicketRow, 'associateId' | 'name' | 'applicationHash'> | null> {
  const rows = await preparedQuery<Pick<TicketRow, 'associateId' | 'name' | 'applicationHash'>>(
    ds,
    'ticket_find_active',
    'SELECT associate_id AS "associateId", name, application_hash AS "applicationHash" FROM ticket WHERE token_hash = $1 AND revoked_at IS NULL',
    [tokenHash],
  );
  return rows[0] ?? null;
}

export async function listTickets(ds: DataSource): Promise<TicketRow[]> {
  return ds.getRepository(TicketRow).find({ order: { ticketId: 'ASC' } });
}

export async function revokeTicket(ds: DataSource, ticketId: number): Promise<boolean> {
  const result = await ds.getRepository(TicketRow).update({ ticketId, revokedAt: IsNull() }, { revokedAt: new Date() });
  return (result.affected ?? 0) > 0;
}

export async function countTickets(ds: DataSource): Promise<number> {
  return ds.getRepository(TicketRow).count();
}
