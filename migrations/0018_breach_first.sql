-- Breaches first (issue 12, burst lateness): the firing claim (src/scheduler/fire.ts CLAIM_SQL)
-- takes due breach timers before due warnings. A batch of incidents reported late (an import, a
-- system catching up) brings hundreds of warnings already due at once; claimed in due-time order,
-- a breach coming due meanwhile waited behind them (two rounds of 500 warnings, ~150 ms each at
-- 333 breaching incidents/s). A warning late by a few hundred ms more costs nothing; a late
-- breach is a late page. This partial index serves the breach half of the claim; timers_due_idx
-- still serves the warning half and the wheel's window.
CREATE INDEX timers_breach_due_idx ON timers (due_at) WHERE kind = 'breach';
