// Notification secrets live in environment variables, never in the config file:
// say at start-up (and on reload) which ones are missing, instead of failing later.
import type { Config } from '../config.js';

export function notifyEnvProblems(config: Config, env: NodeJS.ProcessEnv): string[] {
  const n = config.notify;
  const need: [string, string][] = [];
  if (n.slack) need.push(['notify.slack.token_env', n.slack.tokenEnv], ['notify.slack.signing_secret_env', n.slack.signingSecretEnv]);
  for (const w of n.webhooks) {
    need.push([`notify.webhooks.${w.name}.secret_env`, w.secretEnv]);
    if (w.urlEnv) need.push([`notify.webhooks.${w.name}.url_env`, w.urlEnv]);
  }
  if (n.email) need.push(['notify.email.url_env', n.email.urlEnv]);
  if (n.jira) need.push(['notify.jira.token_env', n.jira.tokenEnv]);
  const problems = need.filter(([, v]) => !env[v]).map(([where, v]) => `${config.file}: ${where}: the environment variable ${v} is not set`);
  for (const w of n.webhooks) {
    const secret = env[w.secretEnv];
    if (secret && Buffer.from(secret.replace(/^whsec_/, ''), 'base64').length < 16) {
      problems.push(`${config.file}: notify.webhooks.${w.name}.secret_env: ${w.secretEnv} must hold whsec_ followed by at least 16 random bytes in base64 (echo whsec_$(openssl rand -base64 32))`);
    }
  }
  return problems;
}
