#!/usr/bin/env node
// `git-credential-ajar`: what git runs for `credential.helper ajar` (or "ajar credential").
import { runCredentialHelper } from './credential.js';

process.exit(await runCredentialHelper(process.argv.at(-1)));
