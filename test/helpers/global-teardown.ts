/**
 * Jest global teardown: undoes what global-setup did in this run, last step first (drop the run's
 * database, delete its topics, stop the local broker or containers only if this run started them).
 * Every step runs even if an earlier one fails; failures are reported together.
 */
import { clearInfraState, infraState } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const state = infraState();
  if (!state) return; // already torn down (jest calls this once per project that lists it)
  clearInfraState();
  const errors: Error[] = [];
  for (const step of state.cleanups.reverse()) {
    try {
      await step.run();
    } catch (err) {
      errors.push(new Error(`${step.what}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
  if (errors.length > 0) {
    throw new AggregateError(
      errors,
      `test infrastructure teardown failed: ${errors.map((e) => e.message).join('; ')}`,
    );
  }
}
