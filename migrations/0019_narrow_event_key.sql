-- Storage (issue 12 item 5): a fixed-width idempotency key, a 16-byte content digest and an enum
-- type for `incident_events`. Measured with `npm run bench -- storage --incidents 1000 --rounds 3
-- --vacuum` (README "Storage", before and after alternated in one sitting): kept per incident at
-- the margin 7.94-8.04 KB -> 7.17-7.20 KB; `incident_events` 3,596-3,817 -> 2,744-2,859 bytes per
-- incident (primary key 960-980 -> 290-390, heap -170 from the type; the key's 17 bytes in the
-- heap are paid by the digest's 16). 7 s to copy 540,000 events (182 MB -> 140 MB).
--
-- 1. The key. 0017 made (source, event_id) the primary key: two texts in every index entry (about
--    97 bytes per event with the B-tree's overhead). Now the key is `event_key`, the first 16 bytes
--    of sha256(source, a zero byte, event_id) (a zero byte cannot occur in a Postgres text, so two
--    different pairs never hash the same input). It is computed in one place only, the SQL function
--    sla_event_key below, by Postgres itself as a generated column: a writer cannot store another
--    value, and the projector's duplicate/conflict lookup (src/tables/incident-events.ts
--    DIGESTS_OF_EVENTS) calls the same function. `source` and `event_id` stay in the row as sent
--    (the audit trail, the timeline, the reports). Uniqueness of (source, id) now rests on the
--    hash: two different pairs sharing 128 bits of sha256 is about 10^-19 likely among 10^10
--    events; should it ever happen, the second event is reported as a digest conflict and not
--    applied (DIGESTS_OF_EVENTS answers by the pair asked for, with the other event's digest).
-- 2. The digest. It only tells a redelivery of an applied (source, id) from other content under
--    the same id (src/projector/apply-batch.ts sortOut): a conflict is counted and not applied, a
--    duplicate is not applied either. 16 bytes of sha256 make an accidental match impossible in
--    practice, and forging one (about 2^64 work, by a producer holding an API key) would only turn
--    a counted conflict into a silent duplicate. src/contracts/events.ts eventDigest returns those
--    16 bytes; the stored 32-byte digests keep their first 16, the same value.
-- 3. The type: 4 bytes of an enum instead of 18 to 30 of text, 15 on average. Its labels are
--    src/domain/events.ts INCIDENT_EVENT_TYPES, in text order (so that ORDER BY type sorts as it
--    did), pinned by test/integration/incident-events-store.test.ts; the projector sends only those
--    (decode.ts: any other type goes to the DLQ). A new event type needs a migration
--    `ALTER TYPE incident_event_type ADD VALUE 'incident.x' BEFORE/AFTER ...` (that test fails
--    until it exists). SQL reads it like text: `type = 'incident.arrived'` and `type IN (...)` take
--    literals as they are; a text parameter or a UNION with a text column casts (`type::text`).
--
-- incident_events is copied rather than altered (as in 0017): adding the key and shortening the
-- digest with an UPDATE would leave a dead copy of every row. Fixed-width columns first.
-- No view, trigger or foreign key refers to it.

-- The copy and the index builds are single statements as long as the table is large: not bounded
-- by the pool's statement_timeout. SET LOCAL ends with this migration's transaction.
SET LOCAL statement_timeout = 0;

-- The idempotency key of a lifecycle event: bytes 1-16 of sha256(UTF-8 source, 0x00, UTF-8 id).
-- IMMUTABLE although convert_to is only STABLE: converting to UTF-8 depends on the database's
-- encoding alone, which never changes (and is the identity in a UTF-8 database).
CREATE FUNCTION sla_event_key(source text, event_id text) RETURNS bytea
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT substring(sha256(convert_to(source, 'UTF8') || '\x00'::bytea
                                || convert_to(event_id, 'UTF8')) FROM 1 FOR 16) $$;

CREATE TYPE incident_event_type AS ENUM (
  'incident.acknowledged',
  'incident.arrived',
  'incident.assigned',
  'incident.cancelled',
  'incident.closed',
  'incident.cost_recorded',
  'incident.diagnosed',
  'incident.dispatched',
  'incident.escalated',
  'incident.followed_up',
  'incident.paused',
  'incident.reopened',
  'incident.reported',
  'incident.resolved',
  'incident.resumed',
  'incident.severity_changed',
  'incident.solution_provided',
  'incident.spare_parts_provided'
);

-- Every stored type is one of the labels (the projector applies only those): anything else stops
-- the migration, naming it, instead of failing halfway through the copy.
DO $$
DECLARE
  unknown text;
BEGIN
  SELECT string_agg(DISTINCT type, ', ' ORDER BY type) INTO unknown FROM incident_events
  WHERE type NOT IN (SELECT unnest(enum_range(NULL::incident_event_type))::text);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'incident_events holds event types this release does not know: %', unknown
      USING HINT = 'add them to incident_event_type in this migration, or migrate with the '
                   'release that wrote them';
  END IF;
END $$;

CREATE TABLE incident_events_0019 (
  -- the event's own `time`, as sent
  time            timestamptz NOT NULL,
  -- when the service accepted it (SPEC §3 "Effective time"; migrations/0008)
  accepted_at     timestamptz,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  kafka_offset    bigint      NOT NULL,
  kafka_partition integer     NOT NULL,
  type            incident_event_type NOT NULL,
  -- the idempotency key (above); never written, always computed from source and event_id
  event_key       bytea       NOT NULL GENERATED ALWAYS AS (sla_event_key(source, event_id)) STORED,
  -- 16 bytes of the sha256 of the event's content (src/contracts/events.ts eventDigest): the same
  -- (source, id) again with this digest is a duplicate, with another a conflict (not applied)
  digest          bytea       NOT NULL CHECK (octet_length(digest) = 16),
  incident_id     text        NOT NULL,
  source          text        NOT NULL,
  event_id        text        NOT NULL,
  data            jsonb       NOT NULL
);

INSERT INTO incident_events_0019
  (time, accepted_at, recorded_at, kafka_offset, kafka_partition, type, digest, incident_id,
   source, event_id, data)
SELECT time, accepted_at, recorded_at, kafka_offset, kafka_partition,
       type::incident_event_type, substring(digest FROM 1 FOR 16), incident_id, source, event_id,
       data
FROM incident_events
ORDER BY incident_id, kafka_partition, kafka_offset;

DROP TABLE incident_events;
ALTER TABLE incident_events_0019 RENAME TO incident_events;
ALTER TABLE incident_events RENAME CONSTRAINT incident_events_0019_digest_check
  TO incident_events_digest_check;

-- (source, id) is applied once (SPEC §3: `id` is unique per source), through its hash. Every
-- existing pair was unique (the old primary key), so this fails only on a hash collision.
ALTER TABLE incident_events ADD CONSTRAINT incident_events_pkey PRIMARY KEY (event_key);
-- As in 0017: one incident's events, and the monthly report's three types by time.
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id);
CREATE INDEX incident_events_report_time_idx ON incident_events (time)
  WHERE type IN ('incident.dispatched', 'incident.arrived', 'incident.followed_up');
