import type { DataSource } from 'typeorm';
import { secretBoxOf } from './secretBox';

/**
 * Key rotation (SECRET_ENCRYPTION_KEY=new,old): rewrites every stored Secret and previous
 * Secret not yet sealed with the newest key, a batch of webhooks per short transaction, so it
 * can run while services and workers do. Each batch locks its rows (FOR UPDATE) the way a save
 * does, so a save in between is never overwritten with an older value; a worker that claimed a
 * delivery before the rewrite opens the old envelope with the old key, still configured. After a
 * run reports nothing left, the old key can be removed from the list.
 */

export interface ReencryptionProgress {
  /** Webhooks looked at. */
  scanned: number;
  /** Stored values (Secret or previous Secret) rewritten with the newest key. */
  rewritten: number;
}

export const REENCRYPT_BATCH = 200;

export async function reencryptSecrets(ds: DataSource, options: { batchSize?: number; onBatch?: (progress: ReencryptionProgress) => void } = {}): Promise<ReencryptionProgress> {
  const box = secretBoxOf(ds);
  if (!box.encrypts) throw new Error('SECRET_ENCRYPTION_KEY is not set: there is no key to encrypt the stored Secrets with.');
  const batchSize = options.batchSize ?? REENCRYPT_BATCH;
  const progress: ReencryptionProgress = { scanned: 0, rewritten: 0 };
  let after = 0;
  for (;;) {
    const last = await ds.transaction(async (tx) => {
      const rows: Array<{ id: number; secret: string | null; previous: string | null }> = await tx.query(
        `SELECT webhook_id AS id, secret, previous_secret AS previous FROM webhook
         WHERE webhook_id > $1 ORDER BY webhook_id LIMIT $2 FOR UPDATE`,
        [after, batchSize],
      );
      for (const row of rows) {
        const what = `webhook ${row.id}`;
        const secret = box.needsResealing(row.secret) ? box.seal(box.open(row.secret, what)) : row.secret;
        const previous = box.needsResealing(row.previous) ? box.seal(box.open(row.previous, `${what} (previous Secret)`)) : row.previous;
        const changed = Number(secret !== row.secret) + Number(previous !== row.previous);
        if (changed === 0) continue;
        await tx.query(`UPDATE webhook SET secret = $2, previous_secret = $3 WHERE webhook_id = $1`, [row.id, secret, previous]);
        progress.rewritten += changed;
      }
      progress.scanned += rows.length;
      return rows.length === batchSize ? rows[rows.length - 1].id : null;
    });
    options.onBatch?.({ ...progress });
    if (last === null) return progress;
    after = last;
  }
}
