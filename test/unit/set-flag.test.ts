import fc from 'fast-check';
import { AcmgError } from '../../src/errors.js';
import { formatPath, getPath, parsePath, setPath } from '../../src/profile/paths.js';
import { applySets, parseSetFlag, parseSetValue } from '../../src/profile/set-flag.js';
import { deepMerge } from '../../src/profile/merge.js';

describe('--set paths', () => {
  test('dotted paths, list indices and escaped dots', () => {
    expect(parsePath('gateway.replicas')).toEqual(['gateway', 'replicas']);
    expect(parsePath('gateway.ports[1].port')).toEqual(['gateway', 'ports', 1, 'port']);
    expect(parsePath('a.list[0][2]')).toEqual(['a', 'list', 0, 2]);
    expect(parsePath('gateway.placement.nodeSelector.node-role\\.acmg\\.io/gw')).toEqual(['gateway', 'placement', 'nodeSelector', 'node-role.acmg.io/gw']);
  });

  test.each(['', 'a..b', 'a.', '[0]', 'a[x]', 'a[0]b', '.a'])('rejects malformed path %p with a usage error', (p) => {
    expect(() => parsePath(p)).toThrow(AcmgError);
  });

  test('formatPath inverts parsePath', () => {
    const seg = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_./-]{1,8}$/), fc.nat(20));
    fc.assert(
      fc.property(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.]{0,6}$/), fc.array(seg, { maxLength: 5 })), ([head, rest]) => {
        const segs = [head, ...rest];
        expect(parsePath(formatPath(segs))).toEqual(segs);
      }),
    );
  });

  test('setPath creates objects and lists, never mutates its input, and getPath reads it back', () => {
    const root = { a: { b: 1 } };
    const out = setPath(root, ['a', 'c', 0, 'd'], true);
    expect(root).toEqual({ a: { b: 1 } });
    expect(out).toEqual({ a: { b: 1, c: [{ d: true }] } });
    expect(getPath(out, ['a', 'c', 0, 'd'])).toBe(true);
  });

  test('indexing past the end of a list is an error naming the next valid index', () => {
    expect(() => setPath({ l: [1] }, ['l', 3], 2)).toThrow('the next is [1]');
  });
});

describe('--set values are typed', () => {
  test.each([
    ['true', true],
    ['false', false],
    ['3', 3],
    ['-2', -2],
    ['1.5', 1.5],
    ['null', null],
    ['"3"', '3'],
    ["'true'", 'true'],
    ['500m', '500m'],
    ['01', '01'],
    ['[a,2,true]', ['a', 2, true]],
    ['[]', []],
    ['', ''],
  ])('%p -> %p', (raw, expected) => {
    expect(parseSetValue(raw)).toEqual(expected);
  });

  test('path=value splitting keeps "=" inside the value, and strips a spec. prefix', () => {
    expect(parseSetFlag('gateway.podLabels.a=b=c')).toMatchObject({ path: ['gateway', 'podLabels', 'a'], value: 'b=c' });
    expect(parseSetFlag('spec.gateway.replicas=2').path).toEqual(['gateway', 'replicas']);
  });

  test.each(['noequals', '=3'])('malformed --set %p is a usage error', (raw) => {
    expect(() => parseSetFlag(raw)).toThrow(/expected path=value/);
  });

  test('applySets applies in order and names the flag on error', () => {
    expect(applySets({ a: 1 }, [parseSetFlag('a=2'), parseSetFlag('a=3')])).toEqual({ a: 3 });
    expect(() => applySets({ l: [] }, [parseSetFlag('l[4]=1')])).toThrow('invalid --set "l[4]=1"');
  });
});

describe('overlay merge', () => {
  test('objects merge, lists and scalars replace, null deletes', () => {
    expect(deepMerge({ a: { x: 1, y: 2 }, l: [1, 2], s: 'a' }, { a: { y: 3 }, l: [9], s: null })).toEqual({ a: { x: 1, y: 3 }, l: [9] });
  });

  test('merging with an empty overlay is the identity', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(deepMerge(v, {})).toEqual(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {})));
  });
});
