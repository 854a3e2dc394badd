// `ajar gate`: the deploy gate for any CI system. Allowed → exit 0 at once
// (one use of a use-bound grant is counted). Otherwise, with --wait, it asks —
// reusing this pipeline's pending request for the same deploy, else filing one
// with the pipeline's run, actor and commit — shows progress while it waits,
// and exits 0 once any matching grant is active, 1 when denied, cancelled,
// expired or timed out or when the policy does not let it ask, 2 on errors.
import type { Command } from 'commander';
import type { RequestDto } from '../app/views.js';
import { looksLikeJwt } from '../domain/workload-claims.js';
import { sameArtifact } from '../domain/artifact.js';
import { shellWord } from '../domain/decide.js';
import { parseDuration } from '../domain/duration.js';
import { clockFromEnv } from '../domain/clock.js';
import { canonicalResource, parseResource } from '../domain/resource.js';
import { callJson, CliError, type Client, type GlobalOptions, remoteClient, remoteSettings } from './client.js';
import { waitForAccess } from './gate-wait.js';
import { maskInCi, pipelineContext, pipelineSummary } from './pipeline.js';
import { withClient } from './run.js';

type Check = { allow: boolean; reason?: string; request?: string; grantId?: string; expiresAt?: string; usesLeft?: number | null };
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function registerGateCommand(program: Command, g: () => GlobalOptions) {
  program
    .command('gate')
    .description('deploy gate for CI: exit 0 if allowed now; with --wait, ask and wait for the approval (exit 1 denied/not eligible/timed out, 2 error)')
    .requiredOption('-r, --resource <resource>', 'e.g. env:payments:production')
    .option('-a, --action <action>', 'the action', 'deploy')
    .option('--artifact <id>', "the commit or image digest being deployed; the approval is bound to it (default: the CI's commit)")
    .option('--no-artifact', 'bind the approval to no build')
    .option('--wait <duration>', 'ask for access and wait this long for a decision, e.g. 30m')
    .option('--reason <text>', 'why (the pipeline run, actor and commit from the CI environment are added)')
    .option('-d, --duration <duration>', 'how long the grant should last (default: the policy default)')
    .option('--uses <n>', "how many deploys the approval allows (default: the policy's)", (v) => Number(v))
    .option('--poll <seconds>', 'how often to look while waiting', (v) => Number(v), 5)
    .option('--with-secrets', 'also ask for read-secrets and, once allowed, print the environment\'s secrets as export lines on standard output (eval "$(ajar gate …)")')
    .action((o) =>
      withClient(g(), async (base) => {
        let wait: number | undefined;
        if (o.wait !== undefined) {
          const w = parseDuration(o.wait);
          if (!w.ok) throw new CliError(`--wait: ${w.error}`);
          wait = w.value;
        }
        const session = wait !== undefined && !g().local ? await workloadSession(base, wait) : undefined;
        try {
          return await gate(session?.client ?? base, o, wait);
        } finally {
          await session?.end();
        }
      }),
    );
}

/**
 * A CI OIDC token lives minutes, a wait may last half an hour: exchange it once
 * for an Ajar session of the same workload, for the wait and a margin, and give
 * the session back when the gate is done.
 */
async function workloadSession(c: Client, waitSeconds: number): Promise<{ client: Client; end(): Promise<void> } | undefined> {
  const remote = remoteSettings();
  if (!remote || !looksLikeJwt(remote.token)) return undefined;
  const s = await callJson<{ token: string; id: string; subject: string; expiresAt: string }>(c, 'POST', '/v1/workload/session', { ttl: `${Math.min(12 * 3600, waitSeconds + 15 * 60)}s` });
  process.stderr.write(`ajar gate: the CI token was exchanged for a session of workload ${s.subject} until ${s.expiresAt}\n`);
  const client = remoteClient(remote.url, s.token);
  return { client, end: () => callJson(client, 'DELETE', `/v1/tokens/${encodeURIComponent(s.id)}`).then(() => {}, () => {}) };
}

async function gate(c: Client, o: Record<string, any>, wait: number | undefined): Promise<number> {
  const me = (await callJson<{ name: string }>(c, 'GET', '/v1/whoami')).name;
  const ci = pipelineContext(process.env);
  // The approval is bound to the build by default: the commit the CI runs.
  const artifact: string | undefined = o.artifact === false ? undefined : (o.artifact ?? (ci?.commit && COMMIT.test(ci.commit) ? ci.commit : undefined));
  if (o.artifact === undefined && artifact) process.stderr.write(`ajar gate: artifact ${artifact} (the CI's commit; --artifact names another build)\n`);
  const bound = artifact ? { artifact } : {};
  const check = (action: string, consume: boolean) =>
    callJson<Check>(c, 'POST', '/v1/check', { subject: me, action, resource: o.resource, consume, ...bound, ...(ci ? { context: ci } : {}) });
  // Secrets first (reading them counts no use), then the deploy check, which counts one.
  const attempt = async (): Promise<Check> => {
    let secrets: Record<string, string> = {};
    if (o.withSecrets) {
      const s = await check('read-secrets', false);
      if (!s.allow) return s;
      secrets = (await callJson<{ secrets: Record<string, string> }>(c, 'POST', '/v1/secrets/read', { resource: o.resource, ...bound })).secrets;
    }
    const r = await check(o.action, true);
    if (r.allow) {
      process.stderr.write(`ajar gate: allowed by grant ${r.grantId} until ${r.expiresAt}${r.usesLeft != null ? ` (${r.usesLeft} use(s) left)` : ''}\n`);
      maskInCi(Object.values(secrets));
      // On standard output, ready for eval; everything else goes to standard error.
      for (const [k, v] of Object.entries(secrets)) process.stdout.write(`export ${k}=${shellWord(v)}\n`);
      if (o.withSecrets) process.stderr.write(`ajar gate: released ${Object.keys(secrets).length} secret(s): ${Object.keys(secrets).join(', ')}\n`);
    }
    return r;
  };
  const first = await attempt();
  if (first.allow) return 0;
  if (wait === undefined) {
    const why = first.request ? `${first.reason}\najar gate: to ask for it: ${first.request}` : first.reason;
    process.stderr.write(`ajar gate: refused: ${why} (or run the gate with --wait 30m)\n`);
    return 1;
  }
  // The wait starts now, before asking: --wait 10m is ten minutes from here, on Ajar's clock.
  const since = clockFromEnv().now();
  const actions: string[] = o.withSecrets ? [o.action, 'read-secrets'] : [o.action];
  let req = await pendingTwin(c, me, o.resource, actions, artifact);
  if (req) process.stderr.write(`ajar gate: request ${req.id} for this deploy is already pending (filed ${req.createdAt}); waiting on it\n`);
  else {
    const summary = ci ? pipelineSummary(ci) : undefined;
    const reason = [o.reason, o.reason && summary ? `(${summary})` : summary].filter(Boolean).join(' ') || `deploy${artifact ? ` of ${artifact}` : ''} from a pipeline`;
    try {
      req = await callJson<RequestDto>(c, 'POST', '/v1/requests', {
        resources: [o.resource],
        actions,
        reason,
        ...bound,
        ...(ci ? { pipeline: ci } : {}),
        ...(o.duration ? { duration: o.duration } : {}),
        ...(o.uses !== undefined ? { uses: o.uses } : {}),
      });
    } catch (e) {
      // The policy says no (not eligible, a block rule): a refusal like a denial, not an error.
      if (!(e instanceof CliError) || e.apiCode !== 'permission_denied') throw e;
      process.stderr.write(`ajar gate: refused: this identity may not ask for ${o.action} on ${o.resource}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`ajar gate: filed request ${req.id} for ${o.action} on ${o.resource}${artifact ? ` (bound to ${artifact})` : ''}\n`);
  }
  return waitForAccess(c, req, {
    since,
    waitSeconds: wait,
    waitText: o.wait,
    pollSeconds: o.poll,
    attempt,
    // Any active grant that could allow this deploy, whichever request it came from.
    usableGrant: async () => {
      const grants = (await callJson<{ grants: { actions: string[]; artifact: string | null }[] }>(c, 'GET', `/v1/grants?state=active&resource=${encodeURIComponent(o.resource)}`)).grants;
      return grants.some((gr) => gr.actions.includes(o.action) && (gr.artifact === null || (!!artifact && sameArtifact(gr.artifact, artifact))));
    },
  });
}

/** This identity's pending request for the same deploy (resource, actions, build), filed by an earlier run: wait on it rather than file a duplicate. */
async function pendingTwin(c: Client, me: string, resource: string, actions: string[], artifact: string | undefined): Promise<RequestDto | undefined> {
  const p = parseResource(resource);
  if (!p.ok) return undefined;
  const canonical = canonicalResource(p.value);
  const { requests } = await callJson<{ requests: RequestDto[] }>(c, 'GET', '/v1/requests?state=pending&limit=1000');
  return requests.find(
    (r) =>
      r.requester === me &&
      r.extendsGrantId === null &&
      r.resources.length === 1 &&
      r.resources[0] === canonical &&
      r.actions.length === actions.length &&
      actions.every((a) => r.actions.includes(a)) &&
      (r.artifact ?? undefined) === artifact,
  );
}
