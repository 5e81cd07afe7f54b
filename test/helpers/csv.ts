/**
 * The monthly report's CSV (src/application/reports.ts reportToCsv) as records keyed by the header,
 * so that a test names the cells it checks and does not depend on the other columns. Plain
 * splitting: for cells without commas, quotes or line breaks.
 */
export function csvRecords(text: string): Record<string, string>[] {
  const [header, ...lines] = text.split('\r\n').filter((l) => l !== '');
  const names = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
  });
}

/** The one record of `section`, with the cells named (`count`, `value`…). */
export function csvSection(
  text: string,
  section: string,
  cells: readonly string[],
): Record<string, string> | undefined {
  const found = csvRecords(text).filter((r) => r.section === section);
  if (found.length !== 1) return undefined;
  return Object.fromEntries(cells.map((c) => [c, found[0]![c] ?? '']));
}
