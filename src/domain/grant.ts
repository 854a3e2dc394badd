// Grants and requests: the states they move through and what each state allows.
import type { Resource } from './resource.js';

export const REQUEST_STATES = ['pending', 'approved', 'denied', 'cancelled', 'expired'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const GRANT_STATES = ['scheduled', 'active', 'expired', 'revoked', 'released', 'consumed'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/** Stored states after which a grant never allows again. */
export const FINAL_GRANT_STATES: readonly GrantState[] = ['expired', 'revoked', 'released', 'consumed'];

export interface GrantView {
  id: string;
  subject: string;
  resources: Resource[];
  actions: string[];
  startsAt: Date;
  endsAt: Date;
  maxUses: number | null;
  uses: number;
  /** bound to one build: allows only queries for this commit or image digest */
  artifact?: string | null | undefined;
  /** the state as last written; `effectiveGrantState` says what it is at a given time */
  state: GrantState;
}

/**
 * The state a grant is in at `at`, whatever was last written: a grant past its
 * end is expired even if no sweeper has run yet.
 */
export function effectiveGrantState(g: Pick<GrantView, 'state' | 'startsAt' | 'endsAt' | 'maxUses' | 'uses'>, at: Date): GrantState {
  if (FINAL_GRANT_STATES.includes(g.state)) return g.state;
  if (g.maxUses !== null && g.uses >= g.maxUses) return 'consumed';
  const t = at.getTime();
  if (t >= g.endsAt.getTime()) return 'expired';
  if (t < g.startsAt.getTime()) return 'scheduled';
  return 'active';
}

export function effectiveRequestState(r: { state: RequestState; expiresAt: Date }, at: Date): RequestState {
  if (r.state === 'pending' && at.getTime() >= r.expiresAt.getTime()) return 'expired';
  return r.state;
}
