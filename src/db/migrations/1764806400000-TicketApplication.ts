import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A ticket may belong to one application (SHA-256 of its token); NULL is an operator's ticket. */
export class TicketApplication1764806400000 implements MigrationInterface {
  name = 'TicketApplication1764806400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ticket ADD COLUMN application_hash char(64)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ticket DROP COLUMN application_hash`);
  }
}
