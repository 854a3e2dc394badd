import { describe, expect, it } from 'vitest';
import { maskInCi, pipelineContext, pipelineSummary } from './pipeline.js';

const SHA = '1'.repeat(40);

describe('pipeline context', () => {
  it('GitHub Actions: the run URL, the triggering actor and the commit', () => {
    const p = pipelineContext({ GITHUB_ACTIONS: 'true', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/payments', GITHUB_RUN_ID: '7', GITHUB_ACTOR: 'alice', GITHUB_TRIGGERING_ACTOR: 'bob', GITHUB_SHA: SHA, GITHUB_WORKFLOW: 'deploy' });
    expect(p).toEqual({ system: 'github', runUrl: 'https://github.com/acme/payments/actions/runs/7', commit: SHA, actor: 'bob', name: 'deploy' });
    expect(pipelineSummary(p!)).toBe(`GitHub Actions deploy https://github.com/acme/payments/actions/runs/7 by bob commit ${SHA}`);
  });

  it("GitLab CI: the job's URL rather than the pipeline's, the user and the commit", () => {
    const env = { GITLAB_CI: 'true', CI_PIPELINE_URL: 'https://gitlab.example/acme/payments/-/pipelines/9', CI_JOB_URL: 'https://gitlab.example/acme/payments/-/jobs/31', GITLAB_USER_LOGIN: 'carol', CI_COMMIT_SHA: SHA, CI_JOB_NAME: 'deploy' };
    expect(pipelineContext(env)).toEqual({ system: 'gitlab', runUrl: 'https://gitlab.example/acme/payments/-/jobs/31', commit: SHA, actor: 'carol', name: 'deploy' });
    expect(pipelineContext({ ...env, CI_JOB_URL: '' })?.runUrl).toBe('https://gitlab.example/acme/payments/-/pipelines/9');
    expect(pipelineSummary(pipelineContext(env)!)).toBe(`GitLab CI deploy https://gitlab.example/acme/payments/-/jobs/31 by carol commit ${SHA}`);
  });

  it('Jenkins: the build URL and commit; the actor only when a plugin or a pull request names one', () => {
    const env = { JENKINS_URL: 'https://jenkins.example/', BUILD_URL: 'https://jenkins.example/job/payments/12/', GIT_COMMIT: SHA, JOB_NAME: 'payments' };
    expect(pipelineContext(env)).toEqual({ system: 'jenkins', runUrl: 'https://jenkins.example/job/payments/12/', commit: SHA, name: 'payments' });
    expect(pipelineContext({ ...env, BUILD_USER_ID: 'dave', CHANGE_AUTHOR: 'erin' })?.actor).toBe('dave');
    expect(pipelineContext({ ...env, CHANGE_AUTHOR: 'erin' })?.actor).toBe('erin');
    expect(pipelineSummary(pipelineContext(env)!)).toBe(`Jenkins payments https://jenkins.example/job/payments/12/ commit ${SHA}`);
  });

  it('outside a known CI there is no context', () => {
    expect(pipelineContext({ CI: 'true', GITHUB_SHA: SHA })).toBeUndefined();
  });
});

describe('masking released secrets', () => {
  it('asks GitHub Actions to mask every line of every value, and writes nothing anywhere else', () => {
    const out: string[] = [];
    maskInCi(['s3cret', 'line one\nline two\n'], { GITHUB_ACTIONS: 'true' }, (s) => out.push(s));
    expect(out).toEqual(['::add-mask::s3cret\n', '::add-mask::line one\n', '::add-mask::line two\n']);
    const none: string[] = [];
    maskInCi(['s3cret'], { GITLAB_CI: 'true' }, (s) => none.push(s));
    expect(none).toEqual([]);
  });
});
