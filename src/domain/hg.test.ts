import { describe, expect, it } from 'vitest';
import { classifyHgRequest, hgNameProblem } from './hg.js';

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

describe('hgNameProblem', () => {
  it('keeps branch and bookmark names that can be resource scopes', () => {
    for (const ok of ['default', 'stable', 'topic-x', 'release/2.4']) expect(hgNameProblem(ok, 'branch'), ok).toBeUndefined();
    for (const bad of ['', 'a b', 'a:b', 'a..b', '@x', '/x', 'x/', 'a\u0001']) expect(hgNameProblem(bad, 'branch'), bad).toBeDefined();
    expect(hgNameProblem('feature-x', 'bookmark')).toBeUndefined();
    expect(hgNameProblem('my mark', 'bookmark')).toBeDefined();
  });
});
