-- Inspection obligations (issue 15 item 5; seed §4.5.8.4 / §4.5.7.4 巡检): schedules per site or
-- customer, created over the API by an admin; each due inspection is an obligation with a
-- deadline, warned and breached by the scheduler like a milestone, met by `inspection.completed`.
--
-- Ownership:
--   API-owned (written when a schedule is created; never rebuilt): inspection_schedules,
--     inspections. Their warning and breach timers go into `timers` in the same transaction, with
--     subject (timers.incident_id) 'inspection/<inspection_id>' — "/" never occurs in an incident
--     id — so the one timer runner, timer_fires and the outbox serve them as they serve milestones;
--     a rebuild carries them over into the rebuilt timers table (src/projector/rebuild.ts).
--   projector-owned but insert-only and idempotent (never rebuilt, a replay re-inserts nothing):
--     inspection_completions.

CREATE TABLE inspection_schedules (
  schedule_id        text        PRIMARY KEY,
  site               text,
  customer           text,
  time_zone          text        NOT NULL,
  quarterly          boolean     NOT NULL,
  from_date          date        NOT NULL,
  until_date         date        NOT NULL,
  warn_before        text        NOT NULL,
  escalates_to_tier  smallint    NOT NULL CHECK (escalates_to_tier BETWEEN 1 AND 3),
  -- The request as accepted (defaults filled in): a repeated identical POST is answered with it.
  document           jsonb       NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  created_by         text,
  CHECK (site IS NOT NULL OR customer IS NOT NULL),
  CHECK (from_date <= until_date)
);

-- One row per due inspection (an obligation).
CREATE TABLE inspections (
  inspection_id  text        PRIMARY KEY,
  schedule_id    text        NOT NULL REFERENCES inspection_schedules (schedule_id),
  kind           text        NOT NULL CHECK (kind IN ('quarterly', 'listed')),
  label          text        NOT NULL,
  due_at         timestamptz NOT NULL,
  warn_at        timestamptz
);
CREATE INDEX inspections_schedule_idx ON inspections (schedule_id, due_at);
CREATE INDEX inspections_due_idx ON inspections (due_at);

-- Every inspection.completed applied, once per (source, event_id). The earliest completion of an
-- inspection meets it; one for an id no schedule has (yet) is kept and meets it once created.
CREATE TABLE inspection_completions (
  source          text        NOT NULL,
  event_id        text        NOT NULL,
  inspection_id   text        NOT NULL,
  site            text        NOT NULL,
  report_ref      text,
  -- SPEC §3 effective time: the earlier of the event's time and its acceptance.
  completed_at    timestamptz NOT NULL,
  time            timestamptz NOT NULL,
  kafka_partition integer     NOT NULL,
  kafka_offset    bigint      NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, event_id)
);
CREATE INDEX inspection_completions_inspection_idx
  ON inspection_completions (inspection_id, completed_at);
