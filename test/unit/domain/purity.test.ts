// Issue #4 point 6: the domain is pure. Until the eslint rule lands, this test holds the line:
// no I/O libraries, no zod, no node:* modules, no clock reads under src/domain.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DOMAIN = join(__dirname, '../../../src/domain');
const files = readdirSync(DOMAIN, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts'));

describe('src/domain purity', () => {
  test.each(files)('%s imports only the domain and luxon, and never reads the clock', (file) => {
    const text = readFileSync(join(DOMAIN, file), 'utf8');
    const imports = [...text.matchAll(/(?:from|import|require\()\s*['"]([^'"]+)['"]/g)].map(
      (m) => m[1],
    );
    for (const spec of imports) expect(spec === 'luxon' || spec!.startsWith('./')).toBe(true);
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(code).not.toMatch(
      /Date\.now\s*\(|new Date\s*\(\s*\)|DateTime\.(now|local)\s*\(|performance\.now|process\./,
    );
  });
});
