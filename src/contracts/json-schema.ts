import { z } from 'zod';

type Json = Record<string, unknown>;

/**
 * zod → JSON Schema for contract documents (openapi.yaml: 2020-12, asyncapi.yaml: draft-07).
 * Schemas with a `.meta({ id })` become shared components under `#/components/schemas/`; request and
 * response variants of one id that differ (defaults, transforms) get the later one suffixed
 * `Output` / `Input`.
 */
export class SchemaComponents {
  private readonly schemas = new Map<string, string>();

  constructor(private readonly target: 'draft-2020-12' | 'draft-7' = 'draft-2020-12') {}

  convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const {
      $schema: _ignored,
      $defs,
      definitions,
      ...root
    } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: this.target }) as Json;
    const defs = Object.entries(($defs ?? definitions ?? {}) as Record<string, Json>);
    const local = this.target === 'draft-7' ? '#/definitions/' : '#/$defs/';
    const refsTo = (names: Map<string, string>, text: string) =>
      [...names].reduce(
        (t, [id, name]) => t.replaceAll(`"${local}${id}"`, `"#/components/schemas/${name}"`),
        text,
      );
    // Pass 1: an id keeps its name unless a different schema already holds it.
    const same = new Map(defs.map(([id]) => [id, id]));
    const names = new Map(
      defs.map(([id, def]) => {
        const held = this.schemas.get(id);
        const text = refsTo(same, JSON.stringify(def));
        return [
          id,
          held === undefined || held === text ? id : `${id}${io === 'output' ? 'Output' : 'Input'}`,
        ];
      }),
    );
    // Pass 2: register every def under its name, with refs to the final names.
    for (const [id, def] of defs) {
      const name = names.get(id)!;
      const text = refsTo(names, JSON.stringify(def));
      const held = this.schemas.get(name);
      if (held !== undefined && held !== text) {
        throw new Error(`two different schemas share the component id ${name}`);
      }
      this.schemas.set(name, text);
    }
    return JSON.parse(refsTo(names, JSON.stringify(root))) as Json;
  }

  all(): Json {
    return Object.fromEntries(
      [...this.schemas.entries()].sort(([a], [b]) => cmp(a, b)).map(([k, v]) => [k, JSON.parse(v)]),
    );
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
