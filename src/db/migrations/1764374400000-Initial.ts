import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1764374400000 implements MigrationInterface {
  name = 'Initial1764374400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook (
        webhook_id serial PRIMARY KEY,
        name varchar(400),
        events text[] NOT NULL,
        target_url varchar(4000) NOT NULL,
        secret varchar(400),
        state smallint NOT NULL CHECK (state BETWEEN 0 AND 3),
        type varchar(50) NOT NULL,
        headers jsonb,
        properties jsonb,
        registered timestamptz NOT NULL,
        registered_associate_id integer,
        registered_associate_name varchar(200),
        updated timestamptz NOT NULL,
        updated_associate_id integer,
        updated_associate_name varchar(200),
        errors_email varchar(239),
        description varchar(4000),
        total_calls integer NOT NULL DEFAULT 0,
        total_errors integer NOT NULL DEFAULT 0,
        consecutive_errors integer NOT NULL DEFAULT 0,
        last_error text
      )`);
    // SignalEvent's fan-out asks "which Active webhooks subscribe to X": events @> ARRAY[X].
    await q.query(`CREATE INDEX webhook_events_gin ON webhook USING gin (events)`);
    await q.query(`
      CREATE TABLE ticket (
        ticket_id serial PRIMARY KEY,
        token_hash char(64) NOT NULL UNIQUE,
        name varchar(200) NOT NULL,
        associate_id integer NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ticket`);
    await q.query(`DROP TABLE webhook`);
  }
}
