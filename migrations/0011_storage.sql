-- Storage (issue 12 item 5): fewer dead rows per incident, and room for the ones that remain to
-- be cleaned without VACUUM. Measured with `npm run bench -- storage` (README "Storage").

-- incidents is rewritten by every projector batch that touches the incident. Most of those
-- updates change no indexed column (assignee, tier, event_count, last_event_at, updated_at), so
-- with free room on the page Postgres writes them as HOT updates, and any later read of the page
-- prunes the old versions in place: no VACUUM needed, no new index entries. At the default
-- fillfactor (100) a page is full and every update goes to another page as a dead row for VACUUM.
-- Only pages written from now on get the room (a VACUUM FULL would give it to the old ones).
ALTER TABLE incidents SET (fillfactor = 70);

-- (incident_id, time) duplicated the primary key's leading column: every reader of one
-- incident's events (the projector's batch read, the timeline) finds them through the primary key
-- and orders the few rows itself. One index entry less per lifecycle event.
DROP INDEX incident_events_time_idx;

-- ---------------------------------------------------------------------------------------------
-- The outbox is no longer updated when a row is published. It was: `sent_at`, `attempts` and
-- `last_error` lived on the row, so every SLA event was written twice (the whole row with its
-- payload, plus new entries in every index: `sent_at` is in the unsent index's predicate, so the
-- update could never be HOT), and the first version stayed behind as a dead row for VACUUM.
--
-- Now `outbox` is insert-only: the record of every SLA event emitted (the audit trail, README
-- "Guarantees"; ids are still the exactly-once guard, ON CONFLICT (id) DO NOTHING). What is still
-- to publish is a narrow queue, `outbox_unsent`, filled by a trigger in the same statement as the
-- outbox insert and emptied by the relay in the transaction that records the acknowledgement in
-- `outbox_sent` (insert-only: when each event was published).
CREATE TABLE outbox_unsent (
  id          text        PRIMARY KEY,
  -- copies of the outbox row's: the relay publishes in (created_at, seq) order
  created_at  timestamptz NOT NULL,
  seq         bigint      NOT NULL,
  attempts    integer     NOT NULL DEFAULT 0,
  last_error  text
);

-- One row per published outbox row (no foreign key: outbox rows are never deleted, and the check
-- would cost an index probe per publish).
CREATE TABLE outbox_sent (
  id       text        PRIMARY KEY,
  sent_at  timestamptz NOT NULL
);

INSERT INTO outbox_sent (id, sent_at) SELECT id, sent_at FROM outbox WHERE sent_at IS NOT NULL;
INSERT INTO outbox_unsent (id, created_at, seq, attempts, last_error)
  SELECT id, created_at, seq, attempts, last_error FROM outbox WHERE sent_at IS NULL;

DROP INDEX outbox_unsent_order_idx;
ALTER TABLE outbox DROP COLUMN sent_at, DROP COLUMN attempts, DROP COLUMN last_error;
CREATE INDEX outbox_unsent_order_idx ON outbox_unsent (created_at, seq);

-- outbox is no longer a queue (0004 tuned its autovacuum as one); outbox_unsent is.
ALTER TABLE outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
ALTER TABLE outbox_unsent SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

CREATE FUNCTION sla_outbox_enqueue() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_unsent (id, created_at, seq)
  SELECT id, created_at, seq FROM new_rows;
  RETURN NULL;
END $$;

-- Rows skipped by ON CONFLICT DO NOTHING are not in new_rows: an event already recorded is not
-- queued again.
CREATE TRIGGER outbox_enqueue AFTER INSERT ON outbox
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sla_outbox_enqueue();

-- The live feed is trimmed by age (DELETE): those dead rows need VACUUM like the queues'.
ALTER TABLE stream_events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- The event digest (sha256, src/contracts/events.ts eventDigest) as its 32 bytes instead of 64 hex
-- characters: 33 bytes less per lifecycle event. The projector writes decode(hex) and reads
-- encode(hex), so the digests it compares are the same strings as before.
ALTER TABLE applied_events ALTER COLUMN digest TYPE bytea USING decode(digest, 'hex');
