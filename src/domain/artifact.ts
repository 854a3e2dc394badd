// What an approval can be bound to: one build of the code, so the approval
// allows deploying that commit or image and never a later one.

/** A commit id (40 or 64 hex) or an image digest (`sha256:<64 hex>`, optionally `name@sha256:...`). */
const ARTIFACT = /^(?:[0-9a-f]{40}|[0-9a-f]{64}|(?:[a-z0-9][a-z0-9._\-/:]{0,200}@)?sha256:[0-9a-f]{64})$/;

export function artifactProblem(text: string): string | undefined {
  return ARTIFACT.test(text) ? undefined : 'give a commit id (40 or 64 hex digits) or an image digest (sha256:<64 hex digits>, or name@sha256:…)';
}

/** The same build: an image digest matches with or without its name. */
export function sameArtifact(bound: string, given: string): boolean {
  const digest = (a: string) => (a.includes('@') ? a.slice(a.indexOf('@') + 1) : a);
  return bound === given || digest(bound) === digest(given);
}
