/**
 * The monthly report's CSV cells (src/application/reports.ts csvTable): RFC 4180 quoting, and no
 * text that a spreadsheet would run as a formula (OWASP "CSV injection").
 */
import { csvTable } from '../../../src/application/reports';

test('quotes what needs it and leaves numbers and plain text alone', () => {
  expect(csvTable(['a', 'b', 'c'], [{ a: 'Acme, Ltd', b: 'say "hi"', c: 3 }, { a: 'plain' }])).toBe(
    'a,b,c\r\n"Acme, Ltd","say ""hi""",3\r\nplain,,\r\n',
  );
});

test.each([
  ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
  ['+1+1', "'+1+1"],
  ['-2+3', "'-2+3"],
  ['@SUM(A1)', "'@SUM(A1)"],
  ['\tcmd', "'\tcmd"],
  ['\r=1', `"'\r=1"`],
])('a text starting like a formula (%j) is written as text: %s', (text, cell) => {
  expect(csvTable(['customer'], [{ customer: text }])).toBe(`customer\r\n${cell}\r\n`);
});

test('a negative number stays a number', () => {
  expect(csvTable(['n'], [{ n: -5 }])).toBe('n\r\n-5\r\n');
});
