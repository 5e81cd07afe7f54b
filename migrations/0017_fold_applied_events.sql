-- Storage (issue 12 item 5): one row per applied lifecycle event instead of two. `applied_events`
-- held a second copy of every event's key (source, event_id, incident_id) next to its digest, for
-- idempotency; `incident_events` already holds the key. Now the timeline row carries the digest,
-- and its primary key is (source, event_id): the projector's exactly-once guard (src/tables/
-- incident-events.ts timelineInsert, ON CONFLICT DO NOTHING RETURNING) and its duplicate/conflict
-- lookup (DIGESTS_OF_EVENTS) both use it. The per-incident reads (the projector's batch read, the
-- timeline) use a plain index on incident_id (deduplicated by B-tree: about 15 bytes per event),
-- and the monthly report's index holds only the event types it reads (below). Measured with
-- `npm run bench -- storage` (README "Storage").
--
-- Same semantics as before: a (source, id) applied once, whatever incident it names (the old
-- guard was applied_events' primary key (source, event_id); the old timeline key
-- (incident_id, source, event_id) was weaker and is implied by the new one).
--
-- The table is copied rather than altered: an UPDATE setting the digest on every row would leave
-- a dead copy of each for VACUUM, and the copy also orders the columns so that the fixed-width
-- ones come first (no alignment padding between a text and a timestamptz) and puts each
-- incident's rows together. No view, trigger or foreign key refers to either table.

-- The copy and the index builds are single statements as long as the table is large (about 7 s
-- for 540,000 events on the shared test machine): not bounded by the pool's statement_timeout.
-- SET LOCAL ends with this migration's transaction (src/infra/migrate.ts).
SET LOCAL statement_timeout = 0;

-- Every applied event has both rows (the projector writes them in one statement): anything else
-- would lose an idempotency record or a digest, so the migration stops instead of guessing.
DO $$
DECLARE
  events_only  bigint;
  applied_only bigint;
BEGIN
  SELECT count(*) INTO events_only FROM incident_events e
  WHERE NOT EXISTS (SELECT 1 FROM applied_events a
                    WHERE a.source = e.source AND a.event_id = e.event_id);
  SELECT count(*) INTO applied_only FROM applied_events a
  WHERE NOT EXISTS (SELECT 1 FROM incident_events e
                    WHERE e.source = a.source AND e.event_id = a.event_id);
  IF events_only > 0 OR applied_only > 0 THEN
    RAISE EXCEPTION 'incident_events and applied_events disagree (% events without a digest, '
                    '% applied ids without an event)', events_only, applied_only
      USING HINT = 'rebuild the projection (npm run rebuild) with the previous release, '
                   'then migrate again';
  END IF;
END $$;

CREATE TABLE incident_events_0017 (
  -- the event's own `time`, as sent
  time            timestamptz NOT NULL,
  -- when the service accepted it (SPEC §3 "Effective time"; migrations/0008)
  accepted_at     timestamptz,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  kafka_offset    bigint      NOT NULL,
  kafka_partition integer     NOT NULL,
  incident_id     text        NOT NULL,
  source          text        NOT NULL,
  event_id        text        NOT NULL,
  type            text        NOT NULL,
  data            jsonb       NOT NULL,
  -- sha256 of the event's content (src/contracts/events.ts eventDigest), its 32 bytes: the same
  -- (source, id) again with this digest is a duplicate, with another a conflict (not applied)
  digest          bytea       NOT NULL CHECK (octet_length(digest) = 32)
);

INSERT INTO incident_events_0017
  (time, accepted_at, recorded_at, kafka_offset, kafka_partition, incident_id, source, event_id,
   type, data, digest)
SELECT e.time, e.accepted_at, e.recorded_at, e.kafka_offset, e.kafka_partition, e.incident_id,
       e.source, e.event_id, e.type, e.data, a.digest
FROM incident_events e
JOIN applied_events a ON a.source = e.source AND a.event_id = e.event_id
ORDER BY e.incident_id, e.kafka_partition, e.kafka_offset;

DROP TABLE incident_events, applied_events;
ALTER TABLE incident_events_0017 RENAME TO incident_events;
ALTER TABLE incident_events RENAME CONSTRAINT incident_events_0017_digest_check
  TO incident_events_digest_check;

-- The idempotency key: (source, id) is applied once (SPEC §3: `id` is unique per source).
ALTER TABLE incident_events ADD CONSTRAINT incident_events_pkey PRIMARY KEY (source, event_id);
-- One incident's events: the projector's batch read, the timeline, the reports' joins.
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id);
-- Monthly report: the events of the types it counts, in a month by event time (src/application/
-- reports.ts fieldSection: dispatches and arrivals; report-follow-ups.ts: follow-ups). 0005 indexed
-- (type, time) of every event, some 50 bytes per event; only these three types are read by time, so
-- the index holds only them, by time (the type is checked on the row). A report query filtering
-- another type by time must add it here (a new migration), or it scans the table.
CREATE INDEX incident_events_report_time_idx ON incident_events (time)
  WHERE type IN ('incident.dispatched', 'incident.arrived', 'incident.followed_up');
