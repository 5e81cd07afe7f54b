-- Issued monthly reports (issue 15 item 3): one frozen snapshot per closed month, written by the
-- scheduler (src/application/report-issue.ts). Insert-only: a late event never changes a row; it
-- shows up as a correction of its month in the next issue (`corrections`). The primary key is the
-- exactly-once guard (two schedulers racing: one insert wins), and the `report.monthly_issued`
-- event enters the outbox in the same transaction. Scheduler-owned like the outbox: never rebuilt.
CREATE TABLE issued_reports (
  month        text        PRIMARY KEY CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  time_zone    text        NOT NULL,
  issued_at    timestamptz NOT NULL,
  -- 'sha256:' + hex of the report as RFC 8785 canonical JSON (src/contracts/report-issue.ts)
  digest       text        NOT NULL,
  -- the report as GET /v1/reports/monthly computed it at issued_at. `json`, not `jsonb`: the text
  -- is kept as written, so the snapshot is served with its keys in their order (the CSV's rows
  -- follow it) rather than in jsonb's
  report       json        NOT NULL,
  -- [{month, supersedes, digest, report}]: earlier months whose figures changed since last issued
  corrections  json        NOT NULL DEFAULT '[]'
);
