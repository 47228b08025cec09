import type { DataSource } from 'typeorm';
import { IsNull } from 'typeorm';
import { TicketRow } from './entities/TicketRow';

/** The ticket table's queries. */

export async function insertTicket(ds: DataSource, ticket: { tokenHash: string; name: string; associateId: number; applicationHash: string | null }): Promise<TicketRow> {
  const repository = ds.getRepository(TicketRow);
  return repository.save(repository.create({ ...ticket, createdAt: new Date(), revokedAt: null }));
}

export async function findActiveTicketByHash(ds: DataSource, tokenHash: string): Promise<TicketRow | null> {
  return ds.getRepository(TicketRow).findOneBy({ tokenHash, revokedAt: IsNull() });
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
