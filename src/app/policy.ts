// Policy questions answered without filing anything.
import type { Identity } from '../config.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { type Explanation, explainRequest } from '../policy/explain.js';
import { type Actor, type AppContext, activeIdentity } from './context.js';
import { resolveResources } from './requests.js';

export async function explain(ctx: AppContext, actor: Actor, input: { as?: string | undefined; resources: string[]; actions: string[] }): Promise<Explanation & { policyVersion: string }> {
  const name = input.as ?? actor.name;
  if (name !== actor.name && !actor.admin) throw new AppError('permission_denied', 'you may explain your own access; explaining for others needs an admin');
  if (actor.via === 'local' && !input.as) throw badInput('as: name the user or service account to explain for', { field: 'as' });
  const who = ctx.config.identities.get(name);
  if (!who) throw notFound(`user ${name}`);
  const resources = resolveResources(ctx, input.resources, input.actions);
  const candidates: Identity[] = [];
  for (const i of ctx.config.identities.values()) {
    if (await activeIdentity(ctx, ctx.db, i.name)) candidates.push(i);
  }
  return { ...explainRequest(ctx.config.policy, who, resources, [...new Set(input.actions)], candidates), policyVersion: ctx.policyVersion };
}
