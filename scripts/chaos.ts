/**
 * `npm run chaos [-- <scenario>...] [--quick]`: the fault suite at full size, printing the figures
 * of each scenario (issue 12 item 4). Real service processes on a Postgres cluster and a Kafka
 * broker of the suite's own (CHAOS_PORT_BASE, default 18300: ports +10 … +49), never the shared
 * ones. Scenarios: kill-loop, broker-outage, postgres-outage, two-instances, overload (default:
 * all). `--quick` uses the reduced sizes of the `npm test` run. Exits 1 when a scenario found a
 * violation (lost, doubled or early breaches, a false 202, a status outside the allowed set, a
 * crash); times are printed, never judged.
 */
import { parseArgs } from 'node:util';
import { bringUp } from '../test/chaos';
import { FULL, QUICK, SCENARIOS, type ScenarioName } from '../test/chaos/plans';
import { loadAverage } from '../test/chaos/infra';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { quick: { type: 'boolean' } },
  });
  const names = (positionals.length ? positionals : Object.keys(SCENARIOS)) as ScenarioName[];
  for (const n of names) {
    if (!(n in SCENARIOS))
      throw new Error(`unknown scenario ${n}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  }
  const sizes = values.quick ? QUICK : FULL;
  const say = (line: string) => console.log(line);
  say(
    `chaos: ${names.join(', ')} (${values.quick ? 'quick' : 'full'}); load average ${loadAverage()}`,
  );
  const env = await bringUp(Number(process.env.CHAOS_PORT_BASE ?? 18300), say);
  let failed = 0;
  try {
    for (const n of names) {
      const started = Date.now();
      say(`\n== ${n}`);
      const result = await SCENARIOS[n](env, sizes);
      for (const f of result.figures) say(`  ${f}`);
      say(`  took ${((Date.now() - started) / 1000).toFixed(0)} s`);
      if (result.violations.length) {
        failed += 1;
        for (const v of result.violations) say(`  VIOLATION ${v}`);
      } else say('  OK: no violation');
    }
  } finally {
    await env.teardown();
  }
  if (failed) {
    say(`\n${failed} scenario(s) with violations`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(`chaos failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
