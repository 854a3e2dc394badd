// Who a server-side hook speaks for: the push session Ajar's gateway or SSH
// command gave it, or a hook account (hook mode) naming the pusher.
import type { AppContext } from '../app/context.js';
import { authenticate } from '../app/identities.js';
import { isPushSessionSecret, type Pusher } from '../app/repo-access.js';
import { AppError } from '../domain/errors.js';
import { credentialsOf } from './api.js';

/** The hook's caller: a push session (gateway, SSH), or a hook account naming the pusher. */
export async function pusherOf(ctx: AppContext, authorization: string | undefined, user: string | undefined): Promise<Pusher> {
  const { secret } = credentialsOf(authorization);
  if (secret && isPushSessionSecret(secret)) return { session: secret };
  const actor = secret ? await authenticate(ctx, secret) : undefined;
  if (!actor) throw new AppError('unauthenticated', 'the hook presented no valid push session or hook account token');
  if (!user) throw new AppError('invalid_argument', 'user: name the pusher (hook mode)', { field: 'user' });
  return { hookAccount: actor, user };
}

