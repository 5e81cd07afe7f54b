-- Core schema. Ownership matters for rebuilds:
--   projector-owned (rebuilt from incident.events): incidents, milestones, incident_events,
--     applied_events, timers, projector_offsets
--   scheduler-owned (never rebuilt, so a rebuild cannot re-fire anything): timer_fires, outbox,
--     escalations
--   configuration: policies

-- Versioned SLA policies; an incident keeps the (policy_id, version) it was reported under.
CREATE TABLE policies (
  policy_id   text        NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  document    jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text,
  PRIMARY KEY (policy_id, version)
);

-- The incident read model: one row per incident, as of the last applied event.
CREATE TABLE incidents (
  incident_id     text        PRIMARY KEY,
  status          text        NOT NULL CHECK (status IN ('pending', 'open', 'resolved', 'closed', 'cancelled')),
  severity        text        CHECK (severity IN ('I', 'II', 'III', 'IV')),
  title           text,
  category        text,
  customer        text,
  site            text,
  reporter        text,
  assignee        text,
  -- tier from lifecycle events (incident.assigned / incident.escalated); the effective tier also
  -- counts automatic escalations (see the escalations table and the views).
  tier            smallint    NOT NULL DEFAULT 1 CHECK (tier BETWEEN 1 AND 3),
  policy_id       text,
  policy_version  integer,
  reported_at     timestamptz,
  resolved_at     timestamptz,
  closed_at       timestamptz,
  cancelled_at    timestamptz,
  reopen_count    integer     NOT NULL DEFAULT 0,
  event_count     integer     NOT NULL DEFAULT 0,
  last_event_at   timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_reported_at_idx ON incidents (reported_at DESC, incident_id DESC);
CREATE INDEX incidents_status_idx ON incidents (status, severity);

-- One row per milestone and cycle (cycle 0 is the first; a reopen starts cycle 1 for diagnosis and
-- solution). `state` is the state at projection time; time-dependent states (warned, breached) are
-- derived at read time from the times below.
CREATE TABLE milestones (
  incident_id        text        NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
  milestone          text        NOT NULL,
  cycle              integer     NOT NULL DEFAULT 0,
  state              text        NOT NULL CHECK (state IN ('pending', 'warned', 'met', 'met_late', 'breached', 'paused', 'not_applicable')),
  start_at           timestamptz,
  due_at             timestamptz,
  warn_at            timestamptz[] NOT NULL DEFAULT '{}',
  met_at             timestamptz,
  breached_at        timestamptz,
  paused_ms          bigint      NOT NULL DEFAULT 0,
  escalates_to_tier  smallint,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, milestone, cycle)
);
CREATE INDEX milestones_open_due_idx ON milestones (due_at) WHERE state IN ('pending', 'warned');

-- Every lifecycle event of an incident, for audit (§4.5.5.1) and for re-evaluation in time order.
CREATE TABLE incident_events (
  incident_id   text        NOT NULL,
  source        text        NOT NULL,
  event_id      text        NOT NULL,
  type          text        NOT NULL,
  time          timestamptz NOT NULL,
  data          jsonb       NOT NULL,
  kafka_partition integer   NOT NULL,
  kafka_offset  bigint      NOT NULL,
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, source, event_id)
);
CREATE INDEX incident_events_time_idx ON incident_events (incident_id, time);

-- Idempotency: (source, id) applied once. The digest detects a different event posted under an id
-- already used (reported, not applied).
CREATE TABLE applied_events (
  source      text        NOT NULL,
  event_id    text        NOT NULL,
  incident_id text        NOT NULL,
  digest      text        NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, event_id)
);

-- Pending timers the scheduler must run. `timer_key` is stable across re-planning; `generation`
-- changes when the plan changes (deterministic: the planned due time in ms). A fired timer is deleted
-- and recorded in timer_fires; the projector never re-inserts a (key, generation) that fired.
CREATE TABLE timers (
  timer_key    text        PRIMARY KEY,
  generation   bigint      NOT NULL,
  incident_id  text        NOT NULL,
  milestone    text        NOT NULL,
  cycle        integer     NOT NULL,
  kind         text        NOT NULL CHECK (kind IN ('warning', 'breach')),
  threshold    text,
  due_at       timestamptz NOT NULL,
  deadline     timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_due_idx ON timers (due_at);
CREATE INDEX timers_incident_idx ON timers (incident_id);

-- Kafka offsets of the projector, written in the same transaction as the read model. `epoch` fences
-- a projector that lost its partition: it writes only while its epoch is the current one.
CREATE TABLE projector_offsets (
  group_id     text    NOT NULL,
  topic        text    NOT NULL,
  partition    integer NOT NULL,
  next_offset  bigint  NOT NULL,
  epoch        bigint  NOT NULL DEFAULT 0,
  owner        text,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);

-- Scheduler-owned from here on.

-- Every timer firing, once per (key, generation): the primary key is the exactly-once guard.
CREATE TABLE timer_fires (
  timer_key    text        NOT NULL,
  generation   bigint      NOT NULL,
  incident_id  text        NOT NULL,
  milestone    text        NOT NULL,
  cycle        integer     NOT NULL,
  kind         text        NOT NULL,
  due_at       timestamptz NOT NULL,
  fired_at     timestamptz NOT NULL DEFAULT now(),
  -- the id of the sla.warning / sla.breached event it produced (NULL when skipped as stale)
  event_id     text,
  PRIMARY KEY (timer_key, generation)
);
CREATE INDEX timer_fires_incident_idx ON timer_fires (incident_id, milestone, cycle);

-- Transactional outbox: rows inserted with the state change that caused them, published by the
-- relay. Ids are deterministic, so a re-fire or a rebuild inserts nothing new.
CREATE TABLE outbox (
  id           text        PRIMARY KEY,
  topic        text        NOT NULL,
  message_key  text        NOT NULL,
  type         text        NOT NULL,
  payload      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  sent_at      timestamptz,
  attempts     integer     NOT NULL DEFAULT 0,
  last_error   text
);
CREATE INDEX outbox_unsent_idx ON outbox (created_at) WHERE sent_at IS NULL;

-- Escalations, automatic and manual: one row per tier an incident reached (one page per tier change).
CREATE TABLE escalations (
  incident_id  text        NOT NULL,
  to_tier      smallint    NOT NULL CHECK (to_tier BETWEEN 1 AND 3),
  from_tier    smallint    NOT NULL,
  automatic    boolean     NOT NULL,
  reason       text        NOT NULL,
  milestone    text,
  event_id     text        NOT NULL,
  escalated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, to_tier)
);
