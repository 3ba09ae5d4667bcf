import { parseArgs } from 'node:util';
import { joinDashValues } from './usage';

const OPTIONS = { key: { type: 'string' }, project: { type: 'string' }, verbose: { type: 'boolean' } } as const;
const parse = (args: string[]) => parseArgs({ args: joinDashValues(args, OPTIONS), options: OPTIONS, strict: true }).values;

describe('joinDashValues', () => {
  it('takes an id that begins with a dash as the value of its option (one base64url id in 64 does)', () => {
    expect(parse(['--project', 'p-1', '--key', '-UGmYSLApx2IACA9kURrLA'])).toEqual({ project: 'p-1', key: '-UGmYSLApx2IACA9kURrLA' });
    expect(parse(['--key', '--x'])).toEqual({ key: '--x' });
  });

  it('leaves everything else as it was: a missing value is still reported, flags and = forms unchanged', () => {
    expect(() => parse(['--key', '--project', 'p-1'])).toThrow(/--key/);
    expect(() => parse(['--key', '--project=p-1'])).toThrow(/--key/);
    expect(joinDashValues(['--verbose', '-x'], OPTIONS)).toEqual(['--verbose', '-x']);
    expect(joinDashValues(['--key=-a', '--project', 'p'], OPTIONS)).toEqual(['--key=-a', '--project', 'p']);
    expect(parse(['--key', 'plain'])).toEqual({ key: 'plain' });
  });
});
