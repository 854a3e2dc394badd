import { describe, expect, it } from 'vitest';
import { artifactProblem, sameArtifact } from './artifact.js';
import { decide } from './decide.js';
import type { GrantView } from './grant.js';

const T = new Date('2026-11-23T09:00:00Z');
const D = `sha256:${'c'.repeat(64)}`;
const grant = (artifact: string | null): GrantView => ({
  id: 'g1',
  subject: 'deployer',
  resources: [{ kind: 'env', name: 'payments', scope: 'production' }],
  actions: ['deploy'],
  startsAt: new Date(T.getTime() - 60_000),
  endsAt: new Date(T.getTime() + 60_000),
  maxUses: 1,
  uses: 0,
  state: 'active',
  artifact,
});
const q = (artifact?: string) => ({ subject: 'deployer', action: 'deploy', resource: { kind: 'env' as const, name: 'payments', scope: 'production' }, artifact });

describe('artifacts', () => {
  it('accepts commit ids and image digests, nothing else', () => {
    for (const ok of ['a'.repeat(40), 'a'.repeat(64), D, `registry.example/team/app@${D}`]) expect(artifactProblem(ok), ok).toBeUndefined();
    for (const bad of ['latest', 'A'.repeat(40), 'a'.repeat(39), 'sha256:abc', `@${D}`, `app:1.0`]) expect(artifactProblem(bad), bad).toBeDefined();
  });

  it('a digest is the same build with or without the image name', () => {
    expect(sameArtifact(`r.example/app@${D}`, D)).toBe(true);
    expect(sameArtifact(D, `other.example/app@${D}`)).toBe(true);
    expect(sameArtifact('a'.repeat(40), 'b'.repeat(40))).toBe(false);
  });

  it('a bound grant allows its build only; an unbound grant allows any', () => {
    expect(decide([grant('a'.repeat(40))], q('a'.repeat(40)), T)).toMatchObject({ allow: true });
    expect(decide([grant('a'.repeat(40))], q('b'.repeat(40)), T)).toMatchObject({ allow: false, reason: expect.stringContaining('is bound to aaaa') });
    expect(decide([grant('a'.repeat(40))], q(), T)).toMatchObject({ allow: false, reason: expect.stringContaining('without naming the artifact') });
    expect(decide([grant(null)], q('b'.repeat(40)), T)).toMatchObject({ allow: true });
    expect(decide([grant(null)], q(), T)).toMatchObject({ allow: true });
  });
});
