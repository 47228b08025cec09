import type { MigrationInterface, QueryRunner } from 'typeorm';
import { WEBHOOK_CHANGED_BY_ID } from './1766000000000-WebhookChangedById';
import { withChanges } from './1766100000000-LiveClaimCap';

/**
 * webhook_changed's row trigger stays quiet in a transaction that announces its change itself
 * after its commit. A NOTIFY inside a transaction holds PostgreSQL's cluster-wide notify lock
 * through that transaction's commit and WAL flush, so saves committed one at a time: on the
 * server here, SOAP SaveWebhook ran at 985-1,010/s with the trigger's NOTIFY and 1,308/s without
 * it (bench/cpuShare.ts BENCH_ONLY=Save); pgbench's INSERT with a NOTIFY, 3,000 tps against
 * 6,100-6,900 without. A save now commits without it and announces its webhook in a
 * transaction of its own that waits for no flush. Every other writer (a worker's counters, a
 * rotation, an operator's SQL) is announced by the trigger, as before.
 *
 * The setting's name is db/webhookChanges.ts ANNOUNCED_AFTER_COMMIT_SETTING, written out here:
 * a migration must not change when runtime code does.
 */
export class ChangesAnnouncedAfterCommit1766700000000 implements MigrationInterface {
  name = 'ChangesAnnouncedAfterCommit1766700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      withChanges(WEBHOOK_CHANGED_BY_ID, [
        [
          "        IF TG_LEVEL = 'ROW' THEN\n",
          "        IF TG_LEVEL = 'ROW' THEN\n          IF current_setting('webhook_agent.announced_after_commit', true) = 'on' THEN\n            RETURN NULL;\n          END IF;\n",
        ],
      ]),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(WEBHOOK_CHANGED_BY_ID);
  }
}
