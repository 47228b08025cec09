import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { RequestRateLimiter } from './rateLimit';
import { UnauthorizedError } from './errors';
import { identifyTicket, recentlyAcceptedTicket, type TicketIdentity } from './tickets';
import type { AssociateRef } from './webhook';

/**
 * Who is calling: the ticket's associate, and the application whose ApplicationToken (SOAP
 * header) or SO-AppToken (REST header) the request carried, as its SHA-256 (the token itself is
 * a secret and is never stored). NetServer Online's rule, applied here once for every door:
 *
 * - a webhook saved by a caller with an application belongs to that application;
 * - a caller with an application sees, changes, deletes and lists only its own webhooks (not
 *   another application's, and not those saved without an application);
 * - a caller without an application (an operator's ticket) sees and manages all of them.
 *
 * A ticket created for an application (`tickets create --application TOKEN`) always acts as that
 * application, with or without the header, and is refused with another application's token:
 * so a request carrying no token on such a ticket sees only that application's webhooks.
 *
 * Someone else's webhook answers exactly as an id that does not exist, so ids reveal nothing.
 */
export interface CallerContext {
  associate: AssociateRef;
  /** SHA-256 hex of the application token; null: no application (operator). */
  application: string | null;
}

/** Callers inside the process (delivery engine, admin tools) pass an AssociateRef: they act as operators. */
export type Caller = CallerContext | AssociateRef;

export function callerContext(who: Caller): CallerContext {
  return 'associate' in who ? who : { associate: who, application: null };
}

/** An absent or blank token is no application (.NET proxies send an empty ApplicationToken header). */
export function hashApplicationToken(token: string | null | undefined): string | null {
  const trimmed = token?.trim();
  return trimmed ? crypto.hash('sha256', trimmed, 'hex') : null;
}

/** May this caller see a webhook owned by `owner` (an application hash, or null)? */
export function canAccess(caller: CallerContext | undefined, owner: string | null): boolean {
  if (!caller || caller.application === null) return true;
  if (owner === null || owner.length !== caller.application.length) return false;
  // Hashes of secrets: compared in constant time all the same.
  return crypto.timingSafeEqual(Buffer.from(caller.application, 'hex'), Buffer.from(owner, 'hex'));
}

/** Which owner GetAllWebhooks is restricted to: null lists every webhook. */
export function listScope(caller: CallerContext | undefined): string | null {
  return caller?.application ?? null;
}

/**
 * What both doors do before any operation: authenticate the ticket, count the request against
 * that ticket's rate limit (after authentication, so unknown tickets cannot fill the limiter's
 * memory), and name the application.
 */
export async function identifyCaller(ds: DataSource, limiter: RequestRateLimiter, ticket: string | null, applicationToken: string | null): Promise<CallerContext> {
  const identity = await identifyTicket(ds, ticket);
  await limiter.take(identity.ticketHash);
  return callerOfIdentity(identity, applicationToken);
}

/**
 * identifyCaller without waiting, for the common case of a busy caller: its ticket accepted
 * within the TTL and a token of its rate limit already reserved in this process. undefined: take
 * the asynchronous identifyCaller (which also throws what this one cannot decide).
 * Saves every request the promises and microtask turns of the general path.
 */
export function identifyCallerNow(limiter: RequestRateLimiter, ticket: string | null, applicationToken: string | null): CallerContext | undefined {
  const identity = recentlyAcceptedTicket(ticket);
  if (!identity || !limiter.takeNow(identity.ticketHash)) return undefined;
  return callerOfIdentity(identity, applicationToken);
}

function callerOfIdentity(identity: TicketIdentity, applicationToken: string | null): CallerContext {
  const sent = hashApplicationToken(applicationToken);
  if (identity.application === null) return { associate: identity.associate, application: sent };
  if (sent !== null && !canAccess({ associate: identity.associate, application: identity.application }, sent)) {
    throw new UnauthorizedError('This ticket belongs to another application than the application token sent; use the ticket issued to your application, or send its own token.');
  }
  return { associate: identity.associate, application: identity.application };
}
