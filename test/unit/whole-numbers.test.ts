/**
 * Numbers typed into commands (`--limit`, `--page`, `--position`, a rule's
 * position, a GitHub target id): decimal digits only, in range. Anything a
 * JavaScript `Number()` would also read (`0x10`, `1e1`, `0b11`, ` 3 `,
 * `Infinity`) is refused with the command's own sentence.
 */
import { describe, expect, it } from 'vitest';
import { limit, page } from '../../src/slack/args.ts';
import { position } from '../../commands/policy-args.ts';

const refusals = ['0x10', '1e1', '0b11', '0o7', '1.5', '-2', '+3', ' 3', 'Infinity', 'NaN', '', '٣', '1_000', '10n'];

describe('whole numbers typed into commands', () => {
  it.each(refusals)('refuses %j with the command’s sentence', (typed) => {
    expect(limit(100).safeParse(typed).error?.issues[0]?.message).toBe('The limit must be a whole number from 1 to 100.');
    expect(page.safeParse(typed).error?.issues[0]?.message).toBe('The page must be a whole number from 1.');
    expect(position.safeParse(typed).error?.issues[0]?.message).toMatch(/^The position must be a whole number from 1/);
  });

  it('reads decimal digits, leading zeros included, within the range', () => {
    expect(limit(100).parse('07')).toBe(7);
    expect(limit(100).parse('100')).toBe(100);
    expect(limit(100).safeParse('101').success).toBe(false);
    expect(limit(100).safeParse('0').success).toBe(false);
    expect(page.parse(undefined)).toBe(1);
    expect(position.parse('3')).toBe(3);
  });
});
