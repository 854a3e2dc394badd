import { type Client, CliError, clientFor, type GlobalOptions, localClient } from './client.js';

/** Run a command body with a client, and turn failures into a message and an exit code. */
export async function withClient(g: GlobalOptions, fn: (c: Client) => Promise<number | void>, mode: 'auto' | 'local' = 'auto'): Promise<never> {
  let client: Client | undefined;
  let code = 0;
  try {
    client = mode === 'local' ? await localClient(g) : await clientFor(g);
    code = (await fn(client)) ?? 0;
  } catch (e) {
    code = fail(e);
  } finally {
    await client?.close().catch(() => {});
  }
  process.exit(code);
}

export function fail(e: unknown): number {
  if (e instanceof CliError) {
    process.stderr.write(`ajar: ${e.message}\n`);
    return e.exitCode;
  }
  process.stderr.write(`ajar: ${(e as Error)?.message ?? String(e)}\n`);
  return 2;
}

/** Short ISO time for tables. */
export const when = (iso: string | null | undefined) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}
