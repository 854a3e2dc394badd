// Reading the audit log: filters for people and exports for machines.
import { badInput } from '../domain/errors.js';
import { parseResource, resourceOverlaps } from '../domain/resource.js';
import { type AuditEvent, rowToEvent, verifyAuditChain } from './audit-log.js';
import { type Actor, type AppContext, requireAdmin } from './context.js';

export interface AuditFilter {
  user?: string | undefined;
  resource?: string | undefined;
  action?: string | undefined;
  type?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  after?: number | undefined;
  limit?: number | undefined;
}

function time(field: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw badInput(`${field}: not a time; use ISO 8601, e.g. 2026-11-01T00:00:00Z`, { field });
  return d;
}

export async function queryAudit(ctx: AppContext, actor: Actor, f: AuditFilter): Promise<{ events: AuditEvent[]; next: number | null }> {
  requireAdmin(actor);
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 10_000);
  const since = time('since', f.since);
  const until = time('until', f.until);
  const pattern = f.resource ? parseResource(f.resource) : undefined;
  if (pattern && !pattern.ok) throw badInput(`resource: ${pattern.error}`, { field: 'resource' });
  let q = ctx.db.selectFrom('audit_events').selectAll().orderBy('seq').limit(limit + 1);
  if (f.after !== undefined) q = q.where('seq', '>', f.after);
  if (f.user) q = q.where((eb) => eb.or([eb('subject', '=', f.user!), eb('actor', '=', f.user!)]));
  if (f.action) q = q.where('action', 'like', `%${f.action.replace(/[%_\\]/g, '\\$&')}%`);
  if (f.type) q = q.where('type', f.type.endsWith('.*') ? 'like' : '=', f.type.endsWith('.*') ? `${f.type.slice(0, -1)}%` : f.type);
  if (since) q = q.where('at', '>=', since);
  if (until) q = q.where('at', '<', until);
  if (pattern?.ok) q = q.where('resource', 'like', `%${pattern.value.kind}:%`);
  const rows = await q.execute();
  let events = rows.slice(0, limit).map(rowToEvent);
  const next = rows.length > limit ? events[events.length - 1]!.seq : null;
  if (f.action) events = events.filter((e) => (e.action ?? '').split(' ').includes(f.action!));
  if (pattern?.ok) {
    events = events.filter((e) =>
      (e.resource ?? '').split(' ').some((r) => {
        const p = parseResource(r);
        return p.ok && resourceOverlaps(p.value, pattern.value);
      }),
    );
  }
  return { events, next };
}

export async function verifyAudit(ctx: AppContext, actor: Actor) {
  requireAdmin(actor);
  return verifyAuditChain(ctx.db);
}

const CSV_COLUMNS = ['seq', 'id', 'at', 'type', 'actor', 'subject', 'resource', 'action', 'requestId', 'grantId', 'outcome', 'reason', 'details', 'prevHash', 'hash'] as const;

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  // Quote always; neutralise spreadsheet formulas (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return `"${safe.replaceAll('"', '""')}"`;
}

export function toCsv(events: AuditEvent[], header = true): string {
  const lines = events.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(','));
  return `${header ? `${CSV_COLUMNS.join(',')}\n` : ''}${lines.map((l) => `${l}\n`).join('')}`;
}

export function toJsonl(events: AuditEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}
