import { describe, expect, it } from 'vitest';
import { parseGitRequest } from './http-path.js';

describe('parseGitRequest', () => {
  it('accepts the three smart-HTTP endpoints, exactly as git sends them', () => {
    expect(parseGitRequest('GET', '/git/payments.git/info/refs?service=git-upload-pack')).toMatchObject({ ok: true, repo: 'payments', validName: true, service: 'git-upload-pack', advertise: true });
    expect(parseGitRequest('GET', '/git/platform/api.git/info/refs?service=git-receive-pack')).toMatchObject({ ok: true, repo: 'platform/api', service: 'git-receive-pack' });
    expect(parseGitRequest('POST', '/git/payments.git/git-upload-pack')).toMatchObject({ ok: true, service: 'git-upload-pack', advertise: false, pathInfo: '/payments.git/git-upload-pack' });
    expect(parseGitRequest('POST', '/git/payments.git/git-receive-pack')).toMatchObject({ ok: true, service: 'git-receive-pack', advertise: false });
  });

  it('refuses everything else before looking at any repository', () => {
    for (const [method, url, status] of [
      ['GET', '/git/payments.git/info/refs', 400],
      ['GET', '/git/payments.git/info/refs?service=git-upload-pack&service=git-receive-pack', 400],
      ['GET', '/git/payments.git/info/refs?service=git-upload-archive', 400],
      ['GET', '/git/payments.git/info/refs?x=1&service=git-upload-pack', 400],
      ['POST', '/git/payments.git/info/refs?service=git-upload-pack', 405],
      ['GET', '/git/payments.git/git-upload-pack', 405],
      ['POST', '/git/payments.git/git-upload-pack?service=git-upload-pack', 400],
      ['POST', '/git/payments.git/git-upload-archive', 404],
      ['GET', '/git/payments.git/HEAD', 404],
      ['GET', '/git/payments.git/objects/info/packs', 404],
      ['GET', '/git/payments/info/refs?service=git-upload-pack', 404],
      ['GET', '/git/payments.git//info/refs?service=git-upload-pack', 404],
      ['GET', '/git/.git/info/refs?service=git-upload-pack', 404],
      ['GET', '/v1/git/payments.git/info/refs?service=git-upload-pack', 404],
    ] as const) {
      expect(parseGitRequest(method, url), `${method} ${url}`).toMatchObject({ ok: false, status });
    }
  });

  it('marks names no repository can have, so they get the answer of a missing repository', () => {
    for (const name of ['..', '../payments', '%2e%2e/payments', 'pay%6dents', '-payments', '.payments', 'a/.git', 'a.git/b', '/payments', 'a//b', 'a\\b', 'a/./b']) {
      const r = parseGitRequest('GET', `/git/${name}.git/info/refs?service=git-upload-pack`);
      if (r.ok) expect(r.validName, name).toBe(false);
      else expect(r.status, name).toBe(404);
    }
  });
});
