// Jira (REST API v2, Server/Data Center and Cloud): a required ticket must exist
// and be in an allowed status when a request is filed (checked before anything is
// written; if Jira cannot answer, the request is refused: fail closed), and the
// ticket gets a comment when access is granted and when it ends (outbox).
import type { AppContext } from '../app/context.js';
import type { NotifyConfig } from '../config.js';
import { AppError } from '../domain/errors.js';
import { call, fromEnv, statusError } from './http.js';
import { DeliveryError } from './delivery-error.js';
import type { Delivery } from './outbox.js';

const ISSUE_KEY = /^[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,9}$/;

type JiraConfig = NonNullable<NotifyConfig['jira']>;

function authHeader(j: JiraConfig): string {
  const token = fromEnv(j.tokenEnv, 'jira');
  return j.email ? `Basic ${Buffer.from(`${j.email}:${token}`).toString('base64')}` : `Bearer ${token}`;
}

/**
 * Is this ticket a Jira issue in an allowed status? True when Jira said so, false
 * when no Jira is configured; throws the refusal (or unavailable) as an AppError.
 */
export async function verifyTicket(ctx: AppContext, key: string): Promise<boolean> {
  const j = ctx.config.notify.jira;
  if (!j) return false;
  if (!ISSUE_KEY.test(key)) throw new AppError('invalid_argument', `ticket: "${key}" is not a Jira issue key (like PAY-123)`, { field: 'ticket' });
  let auth: string;
  try {
    auth = authHeader(j);
  } catch (e) {
    throw new AppError('unavailable', `${(e as Error).message}; an admin must set it. The request was not filed`);
  }
  let res: Response;
  try {
    res = await call('jira', `${j.url}/rest/api/2/issue/${encodeURIComponent(key)}?fields=status`, { headers: { authorization: auth, accept: 'application/json' } });
  } catch (e) {
    throw new AppError('unavailable', `cannot check ticket ${key} in Jira (${(e as Error).message.replace(/^jira: /, '')}); the request was not filed, try again`);
  }
  if (res.status === 404) throw new AppError('invalid_argument', `ticket: ${key} does not exist in Jira (or Ajar may not see it)`, { field: 'ticket' });
  if (res.status === 401 || res.status === 403) throw new AppError('unavailable', `Ajar cannot read Jira (HTTP ${res.status}); an admin should check notify.jira.token_env. The request was not filed`);
  if (!res.ok) throw new AppError('unavailable', `cannot check ticket ${key} in Jira (HTTP ${res.status}); the request was not filed, try again`);
  let status: string | undefined;
  try {
    status = ((await res.json()) as { fields?: { status?: { name?: string } } }).fields?.status?.name;
  } catch {
    status = undefined;
  }
  if (typeof status !== 'string') throw new AppError('unavailable', `Jira's answer about ${key} has no status; the request was not filed`);
  if (j.statuses && !j.statuses.some((s) => s.toLowerCase() === status!.toLowerCase())) {
    throw new AppError('invalid_argument', `ticket: ${key} is "${status}" in Jira; it must be ${j.statuses.map((s) => `"${s}"`).join(' or ')}`, { field: 'ticket' });
  }
  return true;
}

export async function sendJiraComment(ctx: AppContext, d: Delivery): Promise<void> {
  const j = ctx.config.notify.jira;
  if (!j) throw new DeliveryError('jira is no longer configured', true);
  if (!ISSUE_KEY.test(d.target)) throw new DeliveryError(`jira: "${d.target}" is not an issue key`, true);
  const label = `jira comment on ${d.target}`;
  const res = await call(
    label,
    `${j.url}/rest/api/2/issue/${encodeURIComponent(d.target)}/comment`,
    { method: 'POST', headers: { authorization: authHeader(j), 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ body: d.payload.body }) },
    { signal: d.signal },
  );
  await res.body?.cancel();
  if (!res.ok) throw statusError(label, res);
}
