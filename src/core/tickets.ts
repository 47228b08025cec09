import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import { countTickets, findActiveTicketByHash, insertTicket } from '../db/ticketRepository';
import { UnauthorizedError } from './errors';
import type { AssociateRef } from './webhook';

/**
 * Tickets authenticate every call. The plain ticket is shown once at creation; only its
 * SHA-256 is stored, and lookups go by that hash (so no secret is ever compared in our code).
 */

const TICKET_PREFIX = 'wat_';

export function hashTicket(ticket: string): string {
  return crypto.createHash('sha256').update(ticket, 'utf8').digest('hex');
}

export async function createTicket(ds: DataSource, name: string, associateId: number): Promise<string> {
  const ticket = TICKET_PREFIX + crypto.randomBytes(32).toString('base64url');
  await insertTicket(ds, { tokenHash: hashTicket(ticket), name, associateId });
  return ticket;
}

/** Creates the first ticket when there is none yet, so a fresh install can be called at all. */
export async function createBootstrapTicket(ds: DataSource): Promise<string | null> {
  if ((await countTickets(ds)) > 0) return null;
  return createTicket(ds, 'bootstrap', 1);
}

export async function authenticate(ds: DataSource, ticket: string | null | undefined): Promise<AssociateRef> {
  if (!ticket || ticket.trim() === '') {
    throw new UnauthorizedError(
      'No ticket was sent: put your ticket in the Credentials header (Ticket element), or send HTTP Authorization: Bearer <ticket>. Create one with `npx webhook-agent tickets create --name NAME`.',
    );
  }
  const row = await findActiveTicketByHash(ds, hashTicket(ticket.trim()));
  if (!row) {
    throw new UnauthorizedError('The ticket is unknown or revoked: check it, or create a new one with `npx webhook-agent tickets create --name NAME`.');
  }
  return { associateId: row.associateId, name: row.name };
}
