import { cliPackage } from '../../app/cli-package.js';
import { notFound } from '../../domain/errors.js';
import type { Route } from '../api.js';

// Public: the CLI is no secret, and `npm install` sends no token.
export const cliRoutes: Route[] = [
  {
    method: 'get',
    path: '/cli',
    tag: 'cli',
    summary: "This server's Ajar CLI as an npm package: its version, file name, SHA-256 and npm integrity",
    public: true,
    handler: async ({ c }) => {
      const p = cliPackage();
      const base = new URL(c.req.url).origin;
      return { version: p.version, file: p.file, sha256: p.sha256, integrity: p.integrity, install: `npm install -g ${base}/cli/${p.file}` };
    },
  },
  {
    method: 'get',
    path: '/cli/:file',
    tag: 'cli',
    summary: 'The Ajar CLI package (ajar.tgz, or ajar-<version>.tgz to pin this version): npm install -g URL',
    public: true,
    raw: true,
    handler: async ({ params, c }) => {
      const p = cliPackage();
      if (params.file !== 'ajar.tgz' && params.file !== p.file) throw notFound(`CLI package ${params.file} (this server has ${p.file})`);
      return c.body(new Uint8Array(p.tgz), 200, {
        'content-type': 'application/gzip',
        'content-disposition': `attachment; filename="${p.file}"`,
        'x-checksum-sha256': p.sha256,
      });
    },
  },
];
