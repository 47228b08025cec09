import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Secret rotation with an overlap (db/secretRotation.ts): the Secret a rotation replaced keeps
 * signing, beside the new one, until previous_secret_until. Sealed like the Secret (secretBox).
 */
export class PreviousSecret1765500000000 implements MigrationInterface {
  name = 'PreviousSecret1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook ADD COLUMN previous_secret text, ADD COLUMN previous_secret_until timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook DROP COLUMN previous_secret, DROP COLUMN previous_secret_until`);
  }
}
