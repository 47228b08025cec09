import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Application isolation: the SHA-256 of the ApplicationToken a webhook was created with (null: none). */
export class Applications1764547200000 implements MigrationInterface {
  name = 'Applications1764547200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook ADD COLUMN application_hash char(64)`);
    // GetAllWebhooks of an application lists by owner.
    await q.query(`CREATE INDEX webhook_application ON webhook (application_hash) WHERE application_hash IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX webhook_application`);
    await q.query(`ALTER TABLE webhook DROP COLUMN application_hash`);
  }
}
