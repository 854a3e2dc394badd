// Configs and helpers for notification tests: the example config with emails,
// a notify section pointing at local servers, and polling for what the outbox
// worker (a real background loop) has delivered.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { EXAMPLE_CONFIG } from './ajar.js';
import { policyRules } from './git.js';

export const EMAILS: Record<string, string> = {
  alice: 'alice@example.com',
  bob: 'bob@example.com',
  carol: 'carol@example.com',
  erin: 'erin@example.com',
  dave: 'dave@example.com',
  frank: 'frank@example.com',
};

/** The example config, everyone with an email, frank a second lead; `notify` as given; `edit` changes more. */
export function notifyConfig(notify: Record<string, unknown>, edit?: (doc: ReturnType<typeof parseDocument>, rules: any[]) => void): string {
  const doc = parseDocument(readFileSync(EXAMPLE_CONFIG, 'utf8'));
  doc.setIn(['users', 'frank'], doc.createNode({ groups: ['leads'], attributes: { team: 'platform' } }));
  for (const [user, email] of Object.entries(EMAILS)) doc.setIn(['users', user, 'email'], email);
  doc.set('notify', notify);
  const rules = policyRules(doc);
  edit?.(doc, rules);
  doc.setIn(['policy', 'rules'], rules);
  return doc.toString();
}

/** Wait for a condition the background worker brings about (it runs every second). */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
