// The config (and the policy in it) is reloaded when its file changes, or on
// SIGHUP, without a restart. A bad new file keeps the running config and logs
// why; a good one is swapped in whole and the change is audited.
import { unwatchFile, watchFile } from 'node:fs';
import { ConfigError, loadConfigFile } from '../config.js';
import { appendAudit } from './audit-log.js';
import { type AppContext, inTransaction, policyVersion } from './context.js';

export async function reloadConfig(ctx: AppContext, file: string): Promise<{ changed: boolean; version: string; problems?: string[] }> {
  let next;
  try {
    next = loadConfigFile(file);
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [String((e as Error).message)];
    ctx.log.warn({ file, problems }, 'the new config is invalid; the running config stays in force');
    return { changed: false, version: ctx.policyVersion, problems };
  }
  const version = policyVersion(next);
  const before = ctx.policyVersion;
  if (JSON.stringify([...next.identities], null, 0) === JSON.stringify([...ctx.config.identities]) && version === before &&
    JSON.stringify(next.resources) === JSON.stringify(ctx.config.resources)) {
    return { changed: false, version };
  }
  ctx.config = next;
  ctx.policyVersion = version;
  const now = ctx.clock.now();
  await inTransaction(ctx, (tx) =>
    appendAudit(tx, now, [{ type: 'config.reloaded', actor: 'ajar', details: { file, policyVersionBefore: before, policyVersion: version } }]),
  ).catch((e) => ctx.log.error({ err: String(e) }, 'could not audit the config reload'));
  ctx.log.info({ file, policyVersion: version, before }, 'config reloaded');
  return { changed: true, version };
}

export function watchConfig(ctx: AppContext, file: string, intervalMs = 1000): () => void {
  let running = Promise.resolve();
  const reload = () => {
    running = running.then(() => reloadConfig(ctx, file).then(() => undefined));
  };
  const onChange = (cur: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload();
  };
  // The on-call schedule named by the config is watched too.
  const files = [file];
  const schedule = ctx.config.policy.oncallFile;
  if (schedule) files.push(schedule);
  for (const f of files) watchFile(f, { interval: intervalMs, persistent: false }, onChange);
  process.on('SIGHUP', reload);
  return () => {
    for (const f of files) unwatchFile(f, onChange);
    process.off('SIGHUP', reload);
  };
}
