/**
 * `npm run bench -- <name> [args...]` runs bench/<name>.ts, which exports `run(args)`. Benchmarks
 * print their numbers; they never assert on time (the machine is shared and noisy).
 */
import path from 'node:path';
import { existsSync } from 'node:fs';

interface Bench {
  run(args: string[]): Promise<void>;
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const file = name && /^[a-z-]+$/.test(name) ? path.join(__dirname, `${name}.ts`) : '';
  if (!file || !existsSync(file)) {
    const available = ['deadlines', 'ingest', 'projector', 'scheduler', 'read', 'storage'].join(
      ', ',
    );
    process.stderr.write(`usage: npm run bench -- <name> [args]; names: ${available}\n`);
    process.exit(2);
  }
  const bench = (await import(file)) as Bench;
  await bench.run(args);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
