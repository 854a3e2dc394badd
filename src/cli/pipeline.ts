// What a CI job says about itself, from its environment: the run (a link back
// from the request and the audit log), the commit, and who set it off. Read by
// `ajar gate` for the request's reason, its structured pipeline context and
// the default artifact.

export interface PipelineContext {
  system: 'github' | 'gitlab' | 'jenkins';
  /** the job or run, as a link */
  runUrl?: string | undefined;
  commit?: string | undefined;
  /** who started it, when the CI says */
  actor?: string | undefined;
  /** the workflow or job name */
  name?: string | undefined;
}

const NAMES = { github: 'GitHub Actions', gitlab: 'GitLab CI', jenkins: 'Jenkins' } as const;

const clean = (o: PipelineContext): PipelineContext => Object.fromEntries(Object.entries(o).filter(([, v]) => v)) as unknown as PipelineContext;

export function pipelineContext(env: NodeJS.ProcessEnv): PipelineContext | undefined {
  if (env.GITHUB_ACTIONS === 'true') {
    const run = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
    return clean({ system: 'github', runUrl: run, commit: env.GITHUB_SHA, actor: env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR, name: env.GITHUB_WORKFLOW });
  }
  if (env.GITLAB_CI === 'true') {
    // The job (its log), not only the pipeline.
    return clean({ system: 'gitlab', runUrl: env.CI_JOB_URL || env.CI_PIPELINE_URL, commit: env.CI_COMMIT_SHA, actor: env.GITLAB_USER_LOGIN, name: env.CI_JOB_NAME });
  }
  if (env.JENKINS_URL) {
    // Jenkins itself names no user: BUILD_USER_ID comes from the build-user-vars plugin, CHANGE_AUTHOR from a pull request build.
    return clean({ system: 'jenkins', runUrl: env.BUILD_URL, commit: env.GIT_COMMIT, actor: env.BUILD_USER_ID || env.CHANGE_AUTHOR, name: env.JOB_NAME });
  }
  return undefined;
}

/** One line for the request's reason: "GitHub Actions deploy https://… by alice commit 1a2b…". */
export function pipelineSummary(p: PipelineContext): string {
  return [`${NAMES[p.system]} ${p.name ?? ''}`.trim(), p.runUrl, p.actor && `by ${p.actor}`, p.commit && `commit ${p.commit}`].filter(Boolean).join(' ');
}

/**
 * On GitHub Actions, ask the runner to mask each value (each line of it) in
 * the job's log before it is printed: the runner reads workflow commands on
 * standard error too, and standard output is for eval. Elsewhere nothing is
 * written: the value must not reach a log that does not mask it.
 */
export function maskInCi(values: string[], env: NodeJS.ProcessEnv = process.env, err: (s: string) => void = (s) => process.stderr.write(s)): void {
  if (env.GITHUB_ACTIONS !== 'true') return;
  for (const v of values) for (const line of v.split(/\r?\n/)) if (line.trim()) err(`::add-mask::${line}\n`);
}
