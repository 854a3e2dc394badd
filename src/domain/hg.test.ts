import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyHgRequest, hgNameProblem, parseForm } from './hg.js';

const none = { headerArgs: '', postArgs: undefined };

describe('classifyHgRequest', () => {
  it('reads cmd from the query string; reads are reads, anything else is a write', () => {
    expect(classifyHgRequest('cmd=capabilities', none)).toEqual({ ok: true, cmd: 'capabilities', commands: ['capabilities'], write: false });
    expect(classifyHgRequest('cmd=getbundle', none)).toMatchObject({ ok: true, write: false });
    expect(classifyHgRequest('cmd=unbundle', none)).toMatchObject({ ok: true, write: true });
    expect(classifyHgRequest('cmd=pushkey&namespace=bookmarks', none)).toMatchObject({ ok: true, write: true });
    expect(classifyHgRequest('cmd=frobnicate', none)).toMatchObject({ ok: true, write: true });
  });

  it('splits a batch, taking cmds as Mercurial does: body arguments, else header arguments, replace the query', () => {
    const q = `cmd=batch&cmds=${encodeURIComponent('heads ;known nodes=')}`;
    expect(classifyHgRequest(q, none)).toEqual({ ok: true, cmd: 'batch', commands: ['batch', 'heads', 'known'], write: false });
    const evil = `cmds=${encodeURIComponent('heads ;pushkey namespace=bookmarks,key=x,old=,new=00')}`;
    expect(classifyHgRequest('cmd=batch', { headerArgs: evil, postArgs: undefined })).toMatchObject({ write: true, commands: ['batch', 'heads', 'pushkey'] });
    expect(classifyHgRequest(q, { headerArgs: evil, postArgs: undefined })).toMatchObject({ write: true });
    expect(classifyHgRequest(q, { headerArgs: '', postArgs: evil })).toMatchObject({ write: true });
    // With body arguments, header arguments are not read (as in Mercurial).
    expect(classifyHgRequest(q, { headerArgs: evil, postArgs: 'x=1' })).toMatchObject({ write: false });
    expect(classifyHgRequest('cmd=batch&cmds=heads+&cmds=unbundle+', none)).toMatchObject({ commands: ['batch', 'heads'] });
  });

  it('refuses what Mercurial might read differently than Ajar', () => {
    expect(classifyHgRequest('cmd=heads&cmd=unbundle', none).ok).toBe(false);
    expect(classifyHgRequest('', none).ok).toBe(false);
    expect(classifyHgRequest('cmd=heads', { headerArgs: 'cmd=unbundle', postArgs: undefined }).ok).toBe(false);
    expect(classifyHgRequest('cmd=heads', { headerArgs: '', postArgs: 'cmd=unbundle' }).ok).toBe(false);
    expect(classifyHgRequest('cmd=batch', none).ok).toBe(false);
  });
});

describe('parseForm', () => {
  it('parses arguments exactly as Mercurial does (checked against its own parser)', () => {
    // Mercurial's parser, in the Python that has Mercurial: each input's pairs, or null where it fails.
    const python = execFileSync('hg', ['debuginstall', '-T', '{pythonexe}'], { encoding: 'utf8' }).trim();
    const script = [
      'import json, sys',
      'from mercurial import util',
      'out = []',
      'for s in json.load(sys.stdin):',
      '    try:',
      '        out.append([[k.decode("latin-1"), v.decode("latin-1")] for k, v in util.urlreq.parseqsl(s.encode("latin-1"), keep_blank_values=True)])',
      '    except Exception:',
      '        out.append(None)',
      'print(json.dumps(out))',
    ].join('\n');
    const char = fc.constantFrom('a', 'c', 'm', 'd', '=', '&', '+', '%', ';', ' ', '2', 'B', '3', 'D', '6', 'f', 'G', '\u00e9');
    const inputs = fc.sample(fc.string({ unit: char, maxLength: 24 }), { numRuns: 2000, seed: 5 });
    inputs.push('cmd=batch&cmds=heads+%3Bp%75shkey', '%63md=x', 'a=%2', 'a=%zz&&b', '=x', 'x', 'a=b=c', '%C3%A9=1');
    const theirs = JSON.parse(execFileSync(python, ['-c', script], { input: JSON.stringify(inputs), encoding: 'utf8' })) as ([string, string][] | null)[];
    let compared = 0;
    inputs.forEach((input, i) => {
      if (theirs[i] === null) return; // Mercurial fails the request (non-ASCII): nothing to agree on
      compared++;
      expect(parseForm(input), JSON.stringify(input)).toEqual(theirs[i]);
    });
    expect(compared).toBeGreaterThan(1000);
  });
});

describe('hgNameProblem', () => {
  it('keeps branch and bookmark names that can be resource scopes', () => {
    for (const ok of ['default', 'stable', 'topic-x', 'release/2.4']) expect(hgNameProblem(ok, 'branch'), ok).toBeUndefined();
    for (const bad of ['', 'a b', 'a:b', 'a..b', '@x', '/x', 'x/', 'a\u0001']) expect(hgNameProblem(bad, 'branch'), bad).toBeDefined();
    expect(hgNameProblem('feature-x', 'bookmark')).toBeUndefined();
    expect(hgNameProblem('my mark', 'bookmark')).toBeDefined();
  });
});
