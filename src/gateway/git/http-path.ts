// The smart-HTTP URLs the gateway accepts, read from the raw request line (never
// percent-decoded, so `%2e%2e` is just a name no repository has). Anything
// else — dumb HTTP paths, info/refs without a service, upload-archive, a second
// query parameter — is not a Git smart-HTTP request Ajar serves, whatever
// repository it names.
import type { GitService } from '../../app/git.js';
import { repoNameProblem } from '../../domain/git.js';

export const GIT_PREFIX = '/git/';

export type GitRequest =
  | { ok: true; repo: string; validName: boolean; service: GitService; advertise: boolean; pathInfo: string; query: string }
  | { ok: false; status: 400 | 404 | 405; message: string };

const SERVICES: readonly string[] = ['git-upload-pack', 'git-receive-pack'];

export function parseGitRequest(method: string, rawUrl: string): GitRequest {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q + 1);
  const notFound = { ok: false as const, status: 404 as const, message: 'not a Git repository URL Ajar serves; use /git/<repository>.git' };
  if (!path.startsWith(GIT_PREFIX)) return notFound;
  const m = /^(.+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(path.slice(GIT_PREFIX.length));
  if (!m) return notFound;
  const [, repo, endpoint] = m as unknown as [string, string, string];
  // A name that cannot be a repository (`..`, `%2e%2e`, `-x`, ...) is answered after
  // authentication exactly like a repository that does not exist.
  const validName = !/[%\\]/.test(repo) && repoNameProblem(repo) === undefined;
  if (endpoint === 'info/refs') {
    if (method !== 'GET') return { ok: false, status: 405, message: 'info/refs is read with GET' };
    // Exactly one parameter, exactly as git sends it: `service=git-upload-pack` twice is refused.
    const service = query.startsWith('service=') ? query.slice('service='.length) : '';
    if (!SERVICES.includes(service)) return { ok: false, status: 400, message: 'only smart HTTP is served: info/refs?service=git-upload-pack or git-receive-pack' };
    return { ok: true, repo, validName, service: service as GitService, advertise: true, pathInfo: `/${repo}.git/info/refs`, query };
  }
  if (method !== 'POST') return { ok: false, status: 405, message: `${endpoint} takes a POST` };
  if (query !== '') return { ok: false, status: 400, message: `${endpoint} takes no query parameters` };
  return { ok: true, repo, validName, service: endpoint as GitService, advertise: false, pathInfo: `/${repo}.git/${endpoint}`, query: '' };
}
