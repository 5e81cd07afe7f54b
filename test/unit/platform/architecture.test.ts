import path from 'node:path';
import madge from 'madge';

/**
 * Imports run one way (issue 13, "Wiring in one direction"): the composition root builds the
 * adapters and wires the roles; no role imports it back. The role contracts (AppContext, Service)
 * live in src/application/roles.ts for that reason. madge parses with the TypeScript detective and
 * counts type-only imports too: the cycles of issue 13 were all `import type`.
 */
const root = path.resolve(__dirname, '../../..');

const graph = () =>
  madge(path.join(root, 'src'), {
    fileExtensions: ['ts'],
    tsConfig: path.join(root, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false } },
  });

describe('the import graph of src', () => {
  let deps: Awaited<ReturnType<typeof graph>>;
  beforeAll(async () => {
    deps = await graph();
  }, 60_000);

  it('counts type-only imports (http/api.ts imports only types from application/roles.ts)', () => {
    expect(deps.obj()['http/api.ts']).toContain('application/roles.ts');
  });

  it('has no import cycle', () => {
    expect(deps.circular()).toEqual([]);
  });

  it('has only the entry point importing the composition root', () => {
    expect(deps.depends('composition.ts')).toEqual(['main.ts']);
  });
});
