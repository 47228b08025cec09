import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Secrets encrypted at rest (SECRET_ENCRYPTION_KEY, db/secretBox.ts): a 400-character Secret
 * sealed as `enc:v1:<iv>:<tag>:<ciphertext>` in base64 takes up to about 1,650 characters, more
 * than varchar(400). The 400-character limit on the Secret itself stays in core/validation.ts.
 */
export class SecretEnvelope1764633600000 implements MigrationInterface {
  name = 'SecretEnvelope1764633600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook ALTER COLUMN secret TYPE text`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Only possible while every stored Secret is plaintext (at most 400 characters).
    await q.query(`ALTER TABLE webhook ALTER COLUMN secret TYPE varchar(400)`);
  }
}
