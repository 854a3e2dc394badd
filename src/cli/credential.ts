// git's credential helper protocol for Ajar's gateway. Set up with any of:
//   git config --global credential.helper ajar              (runs git-credential-ajar)
//   git config --global credential.helper "ajar credential"  (the same program)
//   git config --global credential.helper '!ajar credential'
import { readFileSync } from 'node:fs';
import { callJson, readLogin, remoteClient, remoteSettings } from './client.js';

/** Answer one helper call; git asks `get`, then says `store` or `erase` (Ajar's token is kept by `ajar login`). */
export async function runCredentialHelper(operation: string | undefined): Promise<number> {
  if (operation !== 'get') return 0;
  try {
    process.stdout.write(await credentialFor(readFileSync(0, 'utf8')));
  } catch (e) {
    // Say nothing to git (it then asks the next helper or the terminal), but tell the user why.
    process.stderr.write(`ajar credential: ${(e as Error).message}\n`);
  }
  return 0;
}

/**
 * git's credential protocol: key=value lines in, username/password out — only
 * for the Ajar server the user logged in to (same scheme, host and port), never
 * for another host.
 */
async function credentialFor(input: string): Promise<string> {
  const attrs = new Map<string, string>();
  for (const line of input.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) attrs.set(line.slice(0, i), line.slice(i + 1));
  }
  const settings = remoteSettings();
  if (!settings) return '';
  const ajar = new URL(settings.url);
  const asked = `${attrs.get('protocol')}://${attrs.get('host')}`;
  if (`${ajar.protocol.replace(/:$/, '')}://${ajar.host}` !== asked) return '';
  const login = readLogin();
  const user =
    !process.env.AJAR_TOKEN && login?.user ? login.user : ((await callJson(remoteClient(settings.url, settings.token), 'GET', '/v1/whoami')) as { name: string }).name;
  return `username=${user}\npassword=${settings.token}\n`;
}
