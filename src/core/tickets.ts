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
  // One-shot: no Hash object per call (every request hashes its ticket).
  return crypto.hash('sha256', ticket, 'hex');
}

/** `applicationHash`: the application the ticket is bound to (see core/caller.ts); null for an operator. */
export async function createTicket(ds: DataSource, name: string, associateId: number, applicationHash: string | null = null): Promise<string> {
  const ticket = TICKET_PREFIX + crypto.randomBytes(32).toString('base64url');
  await insertTicket(ds, { tokenHash: hashTicket(ticket), name, associateId, applicationHash });
  return ticket;
}

/** Who a ticket speaks for: its associate, and the application it is bound to (null: operator). */
export interface TicketIdentity {
  associate: AssociateRef;
  application: string | null;
  /** The ticket's SHA-256 (what the rate limiter counts by). */
  ticketHash: string;
}

/** Creates the first ticket when there is none yet, so a fresh install can be called at all. */
export async function createBootstrapTicket(ds: DataSource): Promise<string | null> {
  if ((await countTickets(ds)) > 0) return null;
  return createTicket(ds, 'bootstrap', 1);
}

/**
 * Accepted tickets are remembered briefly so a busy client costs no database round trip per
 * call; a revocation (made by another process, the CLI) therefore takes effect within this TTL.
 */
const ACCEPTED_TTL_MS = 10_000;
const ACCEPTED_MAX = 10_000;
const accepted = new Map<string, { who: TicketIdentity; until: number }>();

export async function authenticate(ds: DataSource, ticket: string | null | undefined): Promise<AssociateRef> {
  return (await identifyTicket(ds, ticket)).associate;
}

/** The identity of a ticket accepted within the TTL, without a database round trip; undefined: ask identifyTicket. */
export function recentlyAcceptedTicket(ticket: string | null | undefined): TicketIdentity | undefined {
  const trimmed = ticket?.trim();
  return trimmed ? acceptedWithinTtl(hashTicket(trimmed)) : undefined;
}

function acceptedWithinTtl(hash: string): TicketIdentity | undefined {
  const cached = accepted.get(hash);
  return cached && cached.until > Date.now() ? cached.who : undefined;
}

export async function identifyTicket(ds: DataSource, ticket: string | null | undefined): Promise<TicketIdentity> {
  if (!ticket || ticket.trim() === '') {
    throw new UnauthorizedError(
      'No ticket was sent: put your ticket in the Credentials header (Ticket element), or send HTTP Authorization: Bearer <ticket>. Create one with `npx webhook-agent tickets create --name NAME`.',
    );
  }
  const hash = hashTicket(ticket.trim());
  const known = acceptedWithinTtl(hash);
  if (known) return known;
  const row = await findActiveTicketByHash(ds, hash);
  if (!row) {
    accepted.delete(hash);
    throw new UnauthorizedError('The ticket is unknown or revoked: check it, or create a new one with `npx webhook-agent tickets create --name NAME`.');
  }
  const who = { associate: { associateId: row.associateId, name: row.name }, application: row.applicationHash, ticketHash: hash };
  if (accepted.size >= ACCEPTED_MAX) accepted.clear();
  accepted.set(hash, { who, until: Date.now() + ACCEPTED_TTL_MS });
  return who;
}
