/**
 * The fault suite, reduced (issue 12 item 4; `npm run chaos` runs it at full size): real service
 * processes on a Postgres cluster and a Kafka broker of the suite's own, which it kills. Each
 * scenario asserts correctness only (nothing lost, nothing fired twice or early, no false 202, only
 * the allowed statuses, no crash); its times are printed, never asserted. If the own cluster or
 * broker cannot be brought up, the suite fails (beforeAll throws); it never skips.
 *
 * Ports: CHAOS_PORT_BASE + 10 … + 49 (default 18350, so that it does not meet `npm run chaos` on
 * its default 18300).
 */
import { bringUp } from '../chaos';
import { QUICK, SCENARIOS, type ScenarioName } from '../chaos/plans';
import type { ChaosEnv } from '../chaos/scenarios';

const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);
let env: (ChaosEnv & { teardown(): Promise<void> }) | undefined;

beforeAll(async () => {
  env = await bringUp(Number(process.env.CHAOS_PORT_BASE ?? 18350), say);
}, 240_000);

afterAll(async () => {
  await env?.teardown();
}, 60_000);

const names = Object.keys(SCENARIOS) as ScenarioName[];

describe('fault suite (reduced)', () => {
  test.each(names)(
    '%s: nothing lost, nothing fired twice or early, only allowed answers',
    async (name) => {
      const result = await SCENARIOS[name](env!, QUICK);
      for (const f of result.figures) say(`${name}: ${f}`);
      expect(result.violations).toEqual([]);
    },
    420_000,
  );
});
