// The config (and its policy, in it or in its own policy_file) is reloaded when
// one of its files changes, or on SIGHUP, without a restart. A bad new file keeps
// the running config and logs why; a good one is swapped in whole and audited.
import { unwatchFile, watchFile } from 'node:fs';
import { ConfigError, loadConfigFile } from '../config.js';
import { notifyEnvProblems } from '../notify/env.js';
import { appendAudit } from './audit-log.js';
import { enforceBlockRules } from './block-rules.js';
import { secretsKeyProblems } from './secrets.js';
import { type AppContext, inTransaction, policyVersion } from './context.js';

const mapsAsEntries = (_k: string, v: unknown) => (v instanceof Map ? [...v] : v);

export async function reloadConfig(ctx: AppContext, file: string): Promise<{ changed: boolean; version: string; problems?: string[] }> {
  let next;
  try {
    next = loadConfigFile(file);
    const missing = [...notifyEnvProblems(next, process.env), ...secretsKeyProblems(next, process.env)];
    if (missing.length) throw new ConfigError(missing);
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [String((e as Error).message)];
    ctx.log.warn({ file, problems }, 'the new config is invalid; the running config stays in force');
    return { changed: false, version: ctx.policyVersion, problems };
  }
  const version = policyVersion(next);
  const before = ctx.policyVersion;
  if (JSON.stringify([...next.identities], null, 0) === JSON.stringify([...ctx.config.identities]) && version === before &&
    JSON.stringify(next.resources) === JSON.stringify(ctx.config.resources) &&
    JSON.stringify([next.git, next.hg, next.notify]) === JSON.stringify([ctx.config.git, ctx.config.hg, ctx.config.notify]) &&
    // Workload mappings, credential targets and secrets keys are decisions too (Maps written out as entries).
    JSON.stringify([next.workloads, next.credentials, next.secrets], mapsAsEntries) === JSON.stringify([ctx.config.workloads, ctx.config.credentials, ctx.config.secrets], mapsAsEntries)) {
    // Nothing a decision uses changed, but the policy may have moved to its own file
    // (or back): follow it, so the watcher watches the file that now holds it.
    ctx.config = { ...ctx.config, policyFile: next.policyFile, source: next.source };
    return { changed: false, version };
  }
  ctx.config = next;
  ctx.policyVersion = version;
  const now = ctx.clock.now();
  await inTransaction(ctx, (tx) =>
    appendAudit(tx, now, [{ type: 'config.reloaded', actor: 'ajar', details: { file, policyFile: next.policyFile ?? null, policyVersionBefore: before, policyVersion: version } }]),
  ).catch((e) => ctx.log.error({ err: String(e) }, 'could not audit the config reload'));
  ctx.log.info({ file, policyFile: next.policyFile, policyVersion: version, before }, 'config reloaded');
  // A new block rule ends the grants it covers now; the sweep retries if this fails.
  await enforceBlockRules(ctx).catch((e) => ctx.log.error({ err: String(e) }, 'could not revoke the grants a block rule covers; the sweep retries'));
  return { changed: true, version };
}

/** The files the running config is made of: they are watched for changes. */
function sourceFiles(ctx: AppContext, file: string): string[] {
  return [file, ctx.config.policyFile, ctx.config.policy.oncallFile].filter((f): f is string => !!f);
}

export function watchConfig(ctx: AppContext, file: string, intervalMs = 1000): () => void {
  let running = Promise.resolve();
  let watched: string[] = [];
  const onChange = (cur: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload();
  };
  // The policy file and the on-call schedule are watched too; a reload may name other
  // ones (a new policy_file or oncall_file), so the watched set follows the config.
  const follow = () => {
    const next = sourceFiles(ctx, file);
    for (const f of watched.filter((w) => !next.includes(w))) unwatchFile(f, onChange);
    for (const f of next.filter((n) => !watched.includes(n))) watchFile(f, { interval: intervalMs, persistent: false }, onChange);
    watched = next;
  };
  const reload = () => {
    running = running.then(() => reloadConfig(ctx, file).then(follow));
  };
  follow();
  process.on('SIGHUP', reload);
  return () => {
    for (const f of watched) unwatchFile(f, onChange);
    watched = [];
    process.off('SIGHUP', reload);
  };
}
