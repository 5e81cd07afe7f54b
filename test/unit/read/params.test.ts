import { decodeCursor, encodeCursor } from '../../../src/application/queries';
import {
  atRiskQuery,
  listIncidentsQuery,
  monthlyReportQuery,
  parseDurationSeconds,
  parseInput,
  streamQuery,
} from '../../../src/contracts/read';
import { ValidationError } from '../../../src/errors';
import { wantsCsv } from '../../../src/http/read';

function rejection(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('list query parameters', () => {
  const parse = (q: Record<string, unknown>) =>
    parseInput(listIncidentsQuery, q, 'query parameter');

  it('has defaults', () => {
    expect(parse({})).toEqual({ sort: '-reportedAt', limit: 50 });
  });

  it('takes lists comma-separated or repeated', () => {
    expect(parse({ severity: 'I,II' }).severity).toEqual(['I', 'II']);
    expect(parse({ severity: ['I', 'III'] }).severity).toEqual(['I', 'III']);
    expect(parse({ tier: '2,3' }).tier).toEqual([2, 3]);
    expect(parse({ status: 'open, resolved' }).status).toEqual(['open', 'resolved']);
  });

  it('parses booleans and instants strictly', () => {
    expect(parse({ breached: 'true', atRisk: 'false' })).toMatchObject({
      breached: true,
      atRisk: false,
    });
    expect(rejection(() => parse({ breached: 'yes' })).details).toEqual([
      { path: 'breached', message: expect.any(String) },
    ]);
    const err = rejection(() => parse({ reportedFrom: '2026-11-24' }));
    expect(err.message).toMatch(/query parameter 'reportedFrom'.*offset/);
  });

  it('names every bad parameter, including unknown ones', () => {
    const err = rejection(() => parse({ severity: 'I,V', limit: '500', severty: 'I' }));
    expect(err.details.map((d) => d.path).sort()).toEqual(['limit', 'severity', 'severty']);
    expect(err.message).toContain("query parameter 'severty': unknown query parameter");
    expect(err.message).toContain("query parameter 'severity'");
  });

  it('refuses an empty list, a zero limit and an inverted range', () => {
    expect(rejection(() => parse({ severity: ',' })).details[0]!.path).toBe('severity');
    expect(rejection(() => parse({ limit: '0' })).details[0]!.path).toBe('limit');
    const err = rejection(() =>
      parse({ reportedFrom: '2026-11-02T00:00:00Z', reportedTo: '2026-11-01T00:00:00Z' }),
    );
    expect(err.details).toEqual([{ path: 'reportedTo', message: 'must be after reportedFrom' }]);
  });

  it('does not list pending incidents (they have no report, hence no deadlines)', () => {
    expect(rejection(() => parse({ status: 'pending' })).details[0]!.path).toBe('status');
  });
});

describe('cursors', () => {
  it('round-trip exactly, microseconds included', () => {
    const c = {
      sort: 'severity' as const,
      reportedUs: '1795634048926123',
      id: 'INC-1',
      severity: 'II',
    };
    expect(decodeCursor(encodeCursor(c), 'severity')).toEqual(c);
  });

  it('are bound to their sort and refuse garbage with a 400 naming cursor', () => {
    const c = encodeCursor({ sort: '-reportedAt', reportedUs: '1', id: 'x' });
    expect(rejection(() => decodeCursor(c, 'reportedAt')).message).toMatch(
      /'cursor'.*sort=-reportedAt/,
    );
    for (const bad of ['abc', Buffer.from('[2]').toString('base64url'), '!!!']) {
      expect(rejection(() => decodeCursor(bad, '-reportedAt')).details[0]!.path).toBe('cursor');
    }
  });
});

describe('at-risk, report and stream parameters', () => {
  it('take a horizon in seconds or as an ISO duration, up to 30 days', () => {
    const parse = (q: Record<string, unknown>) => parseInput(atRiskQuery, q, 'query parameter');
    expect(parse({})).toEqual({ horizon: 3600, includeBreached: false, limit: 100 });
    expect(parse({ horizon: 'PT30M' }).horizon).toBe(1800);
    expect(parse({ horizon: 'P1DT1H' }).horizon).toBe(90000);
    expect(parse({ horizon: '120' }).horizon).toBe(120);
    for (const bad of ['0', 'P31D', 'PT', '1h', 'P1M']) {
      expect(rejection(() => parse({ horizon: bad })).details[0]!.path).toBe('horizon');
    }
  });

  it('parseDurationSeconds', () => {
    expect(parseDurationSeconds('PT1H30M5S')).toBe(5405);
    expect(parseDurationSeconds('P2W')).toBe(14 * 86400);
    expect(parseDurationSeconds('P')).toBeNull();
  });

  it('want a month YYYY-MM and an IANA zone', () => {
    const parse = (q: Record<string, unknown>) =>
      parseInput(monthlyReportQuery, q, 'query parameter');
    expect(parse({ month: '2026-11', tz: 'Europe/Berlin' })).toEqual({
      month: '2026-11',
      tz: 'Europe/Berlin',
    });
    expect(rejection(() => parse({})).details[0]!.path).toBe('month');
    expect(rejection(() => parse({ month: '2026-13' })).details[0]!.path).toBe('month');
    expect(rejection(() => parse({ month: '2026-11', tz: 'Mars/Olympus' })).details[0]!.path).toBe(
      'tz',
    );
  });

  it('stream filters', () => {
    expect(parseInput(streamQuery, { severity: 'I,II', site: 'DC1' }, 'query parameter')).toEqual({
      severity: ['I', 'II'],
      site: 'DC1',
    });
  });

  it('CSV is chosen by format or by Accept', () => {
    expect(wantsCsv(undefined, 'text/csv')).toBe(true);
    expect(wantsCsv(undefined, 'text/csv, application/json')).toBe(true);
    expect(wantsCsv(undefined, 'application/json, text/csv;q=0.5')).toBe(false);
    expect(wantsCsv(undefined, 'text/html,*/*;q=0.8')).toBe(false);
    expect(wantsCsv(undefined, 'application/json')).toBe(false);
    expect(wantsCsv(undefined, undefined)).toBe(false);
    expect(wantsCsv('json', 'text/csv')).toBe(false);
    expect(wantsCsv('csv', undefined)).toBe(true);
    // q-values weigh (a tester found them ignored): refused CSV, or CSV preferred after JSON.
    expect(wantsCsv(undefined, 'text/csv;q=0, application/json')).toBe(false);
    expect(wantsCsv(undefined, 'application/json;q=0.1, text/csv;q=0.9')).toBe(true);
    expect(wantsCsv(undefined, 'text/*')).toBe(true);
  });
});
