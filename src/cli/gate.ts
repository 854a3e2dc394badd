// `ajar gate`: the deploy gate for any CI system. Allowed → exit 0 at once
// (one use of a use-bound grant is counted). Otherwise, with --wait, it files
// the request — reason and links from the pipeline's environment — shows
// progress while it waits, and exits 0 once approved, 1 when denied, cancelled,
// expired or timed out or when the policy does not let it ask, 2 on errors.
import type { Command } from 'commander';
import type { RequestDto } from '../app/views.js';
import { parseDuration } from '../domain/duration.js';
import { clockFromEnv } from '../main.js';
import { callJson, CliError, type Client, type GlobalOptions } from './client.js';
import { withClient } from './run.js';
import { shellWord } from '../domain/decide.js';

/** What the pipeline says about itself, for the reason and the audit log (GitHub Actions, GitLab CI, Jenkins). */
export function pipelineContext(env: NodeJS.ProcessEnv): { summary: string | undefined; commit: string | undefined } {
  if (env.GITHUB_ACTIONS === 'true') {
    const run = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
    return { summary: [`GitHub Actions ${env.GITHUB_WORKFLOW ?? ''}`.trim(), run, env.GITHUB_ACTOR && `by ${env.GITHUB_ACTOR}`, env.GITHUB_SHA && `commit ${env.GITHUB_SHA}`].filter(Boolean).join(' '), commit: env.GITHUB_SHA };
  }
  if (env.GITLAB_CI === 'true') {
    return { summary: ['GitLab CI', env.CI_PIPELINE_URL, env.GITLAB_USER_LOGIN && `by ${env.GITLAB_USER_LOGIN}`, env.CI_COMMIT_SHA && `commit ${env.CI_COMMIT_SHA}`].filter(Boolean).join(' '), commit: env.CI_COMMIT_SHA };
  }
  if (env.JENKINS_URL) {
    return { summary: ['Jenkins', env.BUILD_URL, env.GIT_COMMIT && `commit ${env.GIT_COMMIT}`].filter(Boolean).join(' '), commit: env.GIT_COMMIT };
  }
  return { summary: undefined, commit: undefined };
}

export function registerGateCommand(program: Command, g: () => GlobalOptions) {
  program
    .command('gate')
    .description('deploy gate for CI: exit 0 if allowed now; with --wait, ask and wait for the approval (exit 1 denied/not eligible/timed out, 2 error)')
    .requiredOption('-r, --resource <resource>', 'e.g. env:payments:production')
    .option('-a, --action <action>', 'the action', 'deploy')
    .option('--artifact <id>', 'the commit or image digest being deployed; the approval is bound to it')
    .option('--wait <duration>', 'ask for access and wait this long for a decision, e.g. 30m')
    .option('--reason <text>', 'why (default: the pipeline run, actor and commit from the CI environment)')
    .option('-d, --duration <duration>', 'how long the grant should last (default: the policy default)')
    .option('--poll <seconds>', 'how often to look while waiting', (v) => Number(v), 5)
    .option('--with-secrets', 'also ask for read-secrets and, once allowed, print the environment\'s secrets as export lines on standard output (eval "$(ajar gate …)")')
    .action((o) =>
      withClient(g(), async (c) => {
        const me = (await callJson<{ name: string }>(c, 'GET', '/v1/whoami')).name;
        const ci = pipelineContext(process.env);
        const canReadSecrets = async () =>
          (await callJson<{ allow: boolean }>(c, 'POST', '/v1/check', { subject: me, action: 'read-secrets', resource: o.resource, ...(o.artifact ? { artifact: o.artifact } : {}) })).allow;
        const artifact: string | undefined = o.artifact;
        const check = () =>
          callJson<{ allow: boolean; reason?: string; request?: string; grantId?: string; expiresAt?: string; usesLeft?: number | null }>(c, 'POST', '/v1/check', {
            subject: me,
            action: o.action,
            resource: o.resource,
            consume: true,
            ...(artifact ? { artifact } : {}),
          });
        // Secrets first (reading them counts no use), then the deploy check, which counts one.
        const attempt = async () => {
          let secrets: Record<string, string> = {};
          if (o.withSecrets) {
            if (!(await canReadSecrets())) return { allow: false as const, reason: `no active grant for read-secrets on ${o.resource}`, request: undefined };
            secrets = (await callJson<{ secrets: Record<string, string> }>(c, 'POST', '/v1/secrets/read', { resource: o.resource, ...(o.artifact ? { artifact: o.artifact } : {}) })).secrets;
          }
          const r = await check();
          if (r.allow) {
            allowed(r);
            for (const [k, v] of Object.entries(secrets)) process.stdout.write(`export ${k}=${shellWord(v)}\n`);
            if (o.withSecrets) process.stderr.write(`ajar gate: released ${Object.keys(secrets).length} secret(s): ${Object.keys(secrets).join(', ')}\n`);
          }
          return r;
        };
        const first = await attempt();
        if (first.allow) return 0;
        if (!o.wait) {
          const why = first.request ? `${first.reason}\najar gate: to ask for it: ${first.request}` : first.reason;
          process.stderr.write(`ajar gate: refused: ${why} (or run the gate with --wait 30m)\n`);
          return 1;
        }
        const wait = parseDuration(o.wait);
        if (!wait.ok) throw new CliError(`--wait: ${wait.error}`);
        const reason = o.reason ?? ci.summary ?? `deploy${artifact ? ` of ${artifact}` : ''} from a pipeline`;
        let req: RequestDto;
        try {
          req = await callJson<RequestDto>(c, 'POST', '/v1/requests', {
            resources: [o.resource],
            actions: o.withSecrets ? [o.action, 'read-secrets'] : [o.action],
            reason,
            ...(artifact ? { artifact } : {}),
            ...(o.duration ? { duration: o.duration } : {}),
          });
        } catch (e) {
          // The policy says no (not eligible, a block rule): a refusal like a denial, not an error.
          if (!(e instanceof CliError) || e.apiCode !== 'permission_denied') throw e;
          process.stderr.write(`ajar gate: refused: this identity may not ask for ${o.action} on ${o.resource}: ${e.message}\n`);
          return 1;
        }
        process.stderr.write(`ajar gate: filed request ${req.id} for ${o.action} on ${o.resource}${artifact ? ` (bound to ${artifact})` : ''}\n`);
        const final = await waitFor(c, req, wait.value, o.poll);
        if (final.state !== 'approved') {
          const why = final.state === 'pending' ? `no decision within ${o.wait}; request ${final.id} is still pending` : `request ${final.id} was ${final.state}${final.decisionReason ? `: ${final.decisionReason}` : ''}`;
          process.stderr.write(`ajar gate: refused: ${why}\n`);
          return 1;
        }
        const after = await attempt();
        if (after.allow) return 0;
        process.stderr.write(`ajar gate: approved, but not allowed now: ${after.reason}\n`);
        return 1;
      }),
    );
}

function allowed(r: { grantId?: string; expiresAt?: string; usesLeft?: number | null }): number {
  // On standard error: standard output is for the secrets (--with-secrets), ready for eval.
  process.stderr.write(`ajar gate: allowed by grant ${r.grantId} until ${r.expiresAt}${r.usesLeft != null ? ` (${r.usesLeft} use(s) left)` : ''}\n`);
  return 0;
}

/** Poll the request until it is decided or the wait is over (on Ajar's clock, settable in tests). */
async function waitFor(c: Client, req: RequestDto, waitSeconds: number, pollSeconds: number): Promise<RequestDto> {
  const clock = clockFromEnv();
  const deadline = clock.now().getTime() + waitSeconds * 1000;
  let last = '';
  let r = req;
  for (;;) {
    if (r.state !== 'pending') return r;
    const progress = r.approvals.map((s) => `${s.have} of ${s.count} from ${[...s.groups, ...s.users].join(', ')}`).join('; ');
    const line = `waiting for approval${progress ? `: ${progress}` : ''}`;
    if (line !== last) process.stderr.write(`ajar gate: ${line}\n`);
    last = line;
    if (clock.now().getTime() >= deadline) return r;
    await new Promise((ok) => setTimeout(ok, Math.max(0.05, pollSeconds) * 1000));
    r = await callJson<RequestDto>(c, 'GET', `/v1/requests/${encodeURIComponent(req.id)}`);
  }
}
