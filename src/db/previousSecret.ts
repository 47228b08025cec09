import type { DataSource, EntityManager } from 'typeorm';
import { SecretDecryptionError, secretBoxOf, type SecretBox } from './secretBox';

/**
 * Secret rotation with an overlap (SPEC 7): a rotation stores the replaced Secret, sealed like
 * the Secret, with the end of its window. Until then every delivery is signed with both
 * (delivery/headers.ts), so a receiver can switch secrets without rejecting one delivery. A
 * save that sets a new Secret directly drops it: no overlap, as before rotation existed.
 */

type Db = DataSource | EntityManager;

/** Inside the caller's transaction, with the row locked: the new Secret, and the one it replaces until `until`. */
export async function storeRotatedSecret(db: Db, webhookId: number, secret: string, previous: string | null, until: Date): Promise<void> {
  const box = secretBoxOf(db);
  await db.query(`UPDATE webhook SET secret = $2, previous_secret = $3, previous_secret_until = $4, updated = now() WHERE webhook_id = $1`, [
    webhookId,
    box.seal(secret),
    previous ? box.seal(previous) : null,
    previous ? until.toISOString() : null,
  ]);
}

export async function dropPreviousSecret(db: Db, webhookId: number): Promise<void> {
  await db.query(`UPDATE webhook SET previous_secret = NULL, previous_secret_until = NULL WHERE webhook_id = $1 AND previous_secret IS NOT NULL`, [webhookId]);
}

/** When the webhook's previous Secret stops signing, or null when it has none in a window. */
export async function previousSecretUntil(db: Db, webhookId: number): Promise<Date | null> {
  const [row] = await db.query(`SELECT previous_secret_until AS until FROM webhook WHERE webhook_id = $1 AND previous_secret_until > now()`, [webhookId]);
  return row?.until ?? null;
}

/**
 * A previous Secret still in its window (the claim reads it sealed), opened. One that cannot be
 * opened (its key is no longer configured) is left out: the delivery then goes out signed with
 * the current Secret only, never unsigned.
 */
export function openPreviousSecret(box: SecretBox, sealed: string | null, webhookId: number): string | null {
  if (sealed === null) return null;
  try {
    return box.open(sealed, `webhook ${webhookId} (previous Secret)`) || null;
  } catch (error) {
    if (!(error instanceof SecretDecryptionError)) throw error;
    return null;
  }
}

/** Clears previous Secrets whose window has ended (the retention loop calls it); returns how many. */
export async function dropExpiredPreviousSecrets(db: Db): Promise<number> {
  const rows: unknown[] = await db.query(
    `WITH dropped AS (
       UPDATE webhook SET previous_secret = NULL, previous_secret_until = NULL WHERE previous_secret_until <= now() RETURNING 1
     ) SELECT 1 FROM dropped`,
  );
  return rows.length;
}
