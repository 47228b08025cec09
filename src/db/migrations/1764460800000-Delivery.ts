import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The delivery engine's tables: signalled events, one delivery per (event, webhook), and the attempt log. */
export class Delivery1764460800000 implements MigrationInterface {
  name = 'Delivery1764460800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE event (
        event_id uuid PRIMARY KEY,
        name varchar(400) NOT NULL,
        primary_key integer NOT NULL,
        data jsonb,
        associate_id integer NOT NULL,
        signalled_at timestamptz NOT NULL DEFAULT now()
      )`);
    // No foreign key to webhook: a deleted webhook's cancelled deliveries and attempts stay as a log.
    await q.query(`
      CREATE TABLE delivery (
        delivery_id bigserial PRIMARY KEY,
        event_id uuid NOT NULL REFERENCES event (event_id),
        webhook_id integer NOT NULL,
        status varchar(10) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'held', 'succeeded', 'failed', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        run_at timestamptz NOT NULL DEFAULT now(),
        locked_by varchar(200),
        locked_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
      )`);
    // The claim scans due pending rows in run_at order; a claimed row's run_at is its lease expiry.
    await q.query(`CREATE INDEX delivery_due ON delivery (run_at) WHERE status = 'pending'`);
    // Holding, releasing and cancelling a webhook's open deliveries.
    await q.query(`CREATE INDEX delivery_open_by_webhook ON delivery (webhook_id) WHERE status IN ('pending', 'held')`);
    await q.query(`CREATE INDEX delivery_event ON delivery (event_id)`);
    await q.query(`
      CREATE TABLE delivery_attempt (
        attempt_id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL,
        webhook_id integer NOT NULL,
        event_id uuid NOT NULL,
        attempt_number integer NOT NULL,
        attempted_at timestamptz NOT NULL,
        http_status integer,
        latency_ms integer NOT NULL,
        error text,
        response_body varchar(4096),
        worker varchar(200)
      )`);
    // "A webhook's recent attempts".
    await q.query(`CREATE INDEX delivery_attempt_webhook_recent ON delivery_attempt (webhook_id, attempted_at DESC)`);
    await q.query(`CREATE INDEX delivery_attempt_delivery ON delivery_attempt (delivery_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE delivery_attempt`);
    await q.query(`DROP TABLE delivery`);
    await q.query(`DROP TABLE event`);
  }
}
