import crypto from 'node:crypto';
import { ValidationError } from './errors';
import { validateSecret } from './validation';

/**
 * Secret rotation's rules (SPEC 7): the new Secret is given or generated in the Standard
 * Webhooks form, and the replaced one keeps signing beside it for the overlap window.
 */

export const DEFAULT_OVERLAP_SECONDS = 24 * 60 * 60;
/** Long enough for any receiver's release cycle; a previous Secret should not live on for ever. */
export const MAX_OVERLAP_SECONDS = 30 * 24 * 60 * 60;

export interface RotationRequest {
  /** The new Secret; null or absent: a generated `whsec_` one. */
  secret?: string | null;
  /** How long the previous Secret keeps signing; absent: 24 hours. 0 drops it at once. */
  overlapSeconds?: number | null;
}

export interface RotatedSecret {
  webhookId: number;
  secret: string;
  /** When the previous Secret stops signing; null when there was none (or the overlap is 0). */
  previousSecretExpires: Date | null;
}

/** `whsec_` + base64 of 32 random bytes: signs both schemes (delivery/signer.ts). */
export function generateSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/** The new Secret and the overlap in seconds, or a ValidationError naming what was wrong. */
export function resolveRotation(request: RotationRequest): { secret: string; overlapSeconds: number } {
  const overlapSeconds = request.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_OVERLAP_SECONDS) {
    throw new ValidationError(`OverlapSeconds ${overlapSeconds} must be a whole number of seconds from 0 to ${MAX_OVERLAP_SECONDS} (30 days); the default is ${DEFAULT_OVERLAP_SECONDS} (24 hours).`, 'OverlapSeconds');
  }
  if (request.secret === undefined || request.secret === null) return { secret: generateSecret(), overlapSeconds };
  if (request.secret.trim() === '') throw new ValidationError('Secret is empty; give the new Secret, or leave it out to get a generated whsec_ one.', 'Secret');
  validateSecret(request.secret);
  return { secret: request.secret, overlapSeconds };
}

/** Parses an overlap such as `24h`, `90m`, `3600s`, `2d` or plain seconds (the CLI's --overlap). */
export function parseOverlap(text: string): number {
  const match = /^\s*(\d{1,10})\s*([smhd]?)\s*$/i.exec(text);
  if (!match) throw new ValidationError(`--overlap ${JSON.stringify(text)} must be a duration such as 24h, 90m, 3600s or 2d.`, 'OverlapSeconds');
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2].toLowerCase() as '' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
