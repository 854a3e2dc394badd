// The one decision every enforcement point asks:
//   (subject, action, resource, at) → allow(grant, expiresAt) | deny(reason, howToRequest)
// Pure: the caller passes the subject's grants. No I/O, so it is fast, easy to
// test and the same everywhere.
import { effectiveGrantState, type GrantView } from './grant.js';
import { sameArtifact } from './artifact.js';
import { canonicalResource, type Resource, resourceMatches } from './resource.js';

export type Decision =
  | { allow: true; grantId: string; expiresAt: Date; usesLeft: number | null }
  | { allow: false; reason: string; request: string };

export interface DecisionQuery {
  subject: string;
  action: string;
  resource: Resource;
  /** the commit or image digest about to be used; a grant bound to another allows nothing */
  artifact?: string | undefined;
}

export function requestCommand(action: string, resource: Resource): string {
  return `ajar request --resource ${shellWord(canonicalResource(resource))} --action ${action} --duration 1h --reason "..."`;
}

/** A word the shell reads back unchanged: plain when it is safe, else single-quoted. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_.,:/@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export function decide(grants: readonly GrantView[], q: DecisionQuery, at: Date): Decision {
  let best: GrantView | undefined;
  let scheduled: GrantView | undefined;
  let otherArtifact: GrantView | undefined;
  for (const g of grants) {
    if (g.subject !== q.subject || !g.actions.includes(q.action)) continue;
    if (!g.resources.some((r) => resourceMatches(r, q.resource))) continue;
    const state = effectiveGrantState(g, at);
    if (g.artifact && (q.artifact === undefined || !sameArtifact(g.artifact, q.artifact))) {
      if (state === 'active') otherArtifact = g;
      continue;
    }
    if (state === 'scheduled') {
      if (!scheduled || g.startsAt < scheduled.startsAt) scheduled = g;
      continue;
    }
    if (state !== 'active') continue;
    // Prefer a grant that is not counted per use (so a "one push" grant is kept
    // for when it is needed), then the one that lasts longest.
    if (!best || rank(g) > rank(best) || (rank(g) === rank(best) && g.endsAt > best.endsAt)) best = g;
  }
  if (best) {
    return {
      allow: true,
      grantId: best.id,
      expiresAt: best.endsAt,
      usesLeft: best.maxUses === null ? null : best.maxUses - best.uses,
    };
  }
  const what = `${q.action} on ${canonicalResource(q.resource)}`;
  const reason = scheduled
    ? `no active grant for ${what}: grant ${scheduled.id} starts at ${scheduled.startsAt.toISOString()}`
    : otherArtifact
      ? `no active grant for ${what}${q.artifact ? ` and artifact ${q.artifact}` : ' without naming the artifact'}: grant ${otherArtifact.id} is bound to ${otherArtifact.artifact}`
      : `no active grant for ${what}`;
  return { allow: false, reason, request: requestCommand(q.action, q.resource) };
}

const rank = (g: GrantView) => (g.maxUses === null ? 1 : 0);
