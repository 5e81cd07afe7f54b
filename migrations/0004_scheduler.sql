-- Scheduler (issue 7): outbox order, skip reasons, and NOTIFY wake-up hints. Postgres stays the
-- source of truth: every notification here only makes the scheduler look sooner than its poll.

-- Outbox order. Rows written in one transaction share created_at (= transaction start), so the
-- relay orders by (created_at, seq): a breach is published before the escalation it caused.
ALTER TABLE outbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX outbox_unsent_order_idx ON outbox (created_at, seq) WHERE sent_at IS NULL;
-- Superseded by the index above (same predicate, same leading column); one less index to write.
DROP INDEX outbox_unsent_idx;

-- Why a claimed timer produced no event (NULL when it did): see src/scheduler/decide.ts.
ALTER TABLE timer_fires ADD COLUMN skipped_reason text;

-- The timers and outbox tables are queues: rows come and go all day. Vacuum them early so the
-- claim queries do not wade through dead index entries.
ALTER TABLE timers SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- Wake the relay when outbox rows are inserted. Statement level: one notification per insert
-- statement; Postgres folds identical notifications of one transaction into one as well.
CREATE FUNCTION sla_outbox_notify() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sla_outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION sla_outbox_notify();

-- Tell the timer runner about timers due soon, so its in-memory wheel can arm them at once.
-- Payload: the distinct due times (epoch ms, comma-separated, ascending) of the new or re-planned
-- rows due within 10 minutes; 'reload' when there are more than 200 of them (a NOTIFY payload is
-- limited to 8000 bytes). The runner's wheel horizon is at most 5 minutes, so every timer that is
-- due within it when written is announced; later ones are found by the wheel's periodic load.
CREATE FUNCTION sla_timers_notify() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  dues bigint[];
BEGIN
  SELECT array_agg(d ORDER BY d) INTO dues
  FROM (
    SELECT DISTINCT ceil(extract(epoch FROM due_at) * 1000)::bigint AS d
    FROM new_rows
    WHERE due_at <= now() + interval '10 minutes'
    ORDER BY d
    LIMIT 201
  ) s;
  IF dues IS NULL THEN
    RETURN NULL;
  ELSIF cardinality(dues) > 200 THEN
    PERFORM pg_notify('sla_timers', 'reload');
  ELSE
    PERFORM pg_notify('sla_timers', array_to_string(dues, ','));
  END IF;
  RETURN NULL;
END $$;

-- A trigger with transition tables may name one event only, hence two. INSERT … ON CONFLICT DO
-- UPDATE (the projector's upsert) fires both, each with its own rows.
CREATE TRIGGER timers_notify_insert AFTER INSERT ON timers
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sla_timers_notify();
CREATE TRIGGER timers_notify_update AFTER UPDATE ON timers
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sla_timers_notify();
