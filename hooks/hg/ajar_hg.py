# Ajar's Mercurial hooks: the authority on what a push may change.
#
# pretxnclose runs inside every transaction before it commits, after the data
# arrived; it sees exactly what would land: the new changesets (their
# branches, branch-closing commits), bookmark moves, phase changes (draft ->
# public) and obsolescence markers, whether they came by unbundle or pushkey.
# It asks Ajar, and anything short of a clear "allow" rejects the transaction:
# fail closed.
#
# Two ways to reach Ajar:
#   - Ajar's own gateway and SSH command put AJAR_HOOK_URL, AJAR_PUSH_SESSION
#     and AJAR_HG_REPO in the environment of the request (the pusher never
#     sees the session); AJAR_HG_READONLY=1 refuses every transaction;
#   - hook mode (`ajar install-hook hg`): the repository's hgrc has an [ajar]
#     section with url, token_file, user_var and repo.
import json
import os
import urllib.error
import urllib.request

from mercurial import phases
from mercurial.node import hex

TIMEOUT = 30


def _s(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b)


def _env(ui):
    # hgweb gives hooks the request's environment in ui.environ.
    env = {}
    for k, v in (getattr(ui, 'environ', None) or {}).items():
        env[_s(k)] = _s(v)
    for k, v in os.environ.items():
        env.setdefault(k, v)
    return env


class Refusal(Exception):
    pass


def served_config(user, write):
    """What Ajar forces on a repository it serves, for one request or SSH session:
    who may read and push (Mercurial then checks every wire command itself),
    Ajar's hooks, and drafts staying drafts (publishing needs its own grant)."""
    me = os.path.abspath(__file__).encode()
    return [
        (b'web', b'allow_read', user),
        (b'web', b'allow-push', user if write else b''),
        (b'web', b'deny_read', b''),
        (b'web', b'deny_push', b''),
        (b'web', b'push_ssl', b'false'),
        (b'web', b'allow-archive', b''),
        (b'phases', b'publish', b'false'),
        (b'hooks', b'pretxnopen.ajar', b'python:%s:pretxnopen_readonly' % me),
        (b'hooks', b'pretxnclose.ajar', b'python:%s:pretxnclose' % me),
    ]


def _say(ui, lines):
    for line in lines:
        ui.warn(b'ajar: %s\n' % line.encode('utf-8', 'replace'))


def pretxnopen_readonly(ui, repo, **kwargs):
    """Refuse every transaction of a session without a write grant."""
    env = _env(ui)
    if env.get('AJAR_HG_READONLY') == '1':
        _say(ui, [env.get('AJAR_HG_READONLY_WHY') or 'this session may only read', 'the push is refused'])
        return True
    return False


def _changes(ui, repo, tr):
    """What the transaction would change, as Ajar's checks."""
    unfi = repo.unfiltered()
    out = []
    start = tr.changes.get(b'origrepolen', len(unfi))
    by_branch = {}
    closing = {}
    for rev in range(start, len(unfi)):
        ctx = unfi[rev]
        branch = _s(ctx.branch())
        by_branch.setdefault(branch, []).append(_s(hex(ctx.node())))
        if ctx.closesbranch():
            closing.setdefault(branch, []).append(_s(hex(ctx.node())))
    for branch, nodes in sorted(by_branch.items()):
        out.append({'type': 'changesets', 'branch': branch, 'nodes': nodes[:50], 'count': len(nodes)})
    for branch, nodes in sorted(closing.items()):
        out.append({'type': 'close', 'branch': branch, 'nodes': nodes[:50], 'count': len(nodes)})
    for name, (old, new) in sorted(tr.changes.get(b'bookmarks', {}).items()):
        op = 'create' if old is None else 'delete' if new is None else 'move'
        out.append({'type': 'bookmark', 'bookmark': _s(name), 'op': op, 'old': _s(hex(old)) if old else None, 'new': _s(hex(new)) if new else None})
    publishing = ui.configbool(b'phases', b'publish')
    published = {}
    for revs, (old, new) in tr.changes.get(b'phases', []):
        if new != phases.public:
            continue
        # New changesets that land public on a publishing repository are published by
        # being pushed there; anything else turning public is publishing.
        if old is None and publishing:
            continue
        for rev in revs:
            ctx = unfi[rev]
            published.setdefault(_s(ctx.branch()), []).append(_s(hex(ctx.node())))
    for branch, nodes in sorted(published.items()):
        out.append({'type': 'publish', 'branch': branch, 'nodes': nodes[:50], 'count': len(nodes)})
    rewritten = {}
    for marker in tr.changes.get(b'obsmarkers', ()):
        prec = marker[0]
        entry = {"node": _s(hex(prec))}
        if prec in unfi:
            ctx = unfi[prec]
            entry['branch'] = _s(ctx.branch())
            entry['public'] = ctx.phase() == phases.public
        rewritten[entry['node']] = entry
    for entry in sorted(rewritten.values(), key=lambda e: e['node']):
        out.append(dict(entry, type='obsolete'))
    return out


def _ask(url, auth, body):
    req = urllib.request.Request(
        url.rstrip('/') + '/v1/hg/push',
        data=json.dumps(body).encode(),
        headers={'authorization': 'Bearer ' + auth, 'content-type': 'application/json'},
        method='POST',
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
            text = res.read()
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get('error', {}).get('message', 'no message')
        except Exception:
            msg = 'no message'
        raise Refusal('Ajar refused the question (HTTP %d: %s)' % (e.code, msg))
    except Exception as e:
        raise Refusal('cannot reach Ajar at %s (%s)' % (url, getattr(e, 'reason', e)))
    try:
        answer = json.loads(text)
    except ValueError:
        raise Refusal('Ajar gave an answer the hook cannot read')
    if not isinstance(answer.get('allow'), bool) or not isinstance(answer.get('lines'), list):
        raise Refusal('Ajar gave an answer the hook cannot read')
    return answer


def pretxnclose(ui, repo, **kwargs):
    try:
        return _decide(ui, repo, kwargs)
    except Refusal as e:
        _say(ui, [str(e), 'the push is refused (Ajar fails closed)'])
        return True
    except Exception as e:  # a bug must not let a push through
        _say(ui, ['unexpected error in the hook (%s)' % e, 'the push is refused (Ajar fails closed)'])
        return True


def _decide(ui, repo, kwargs):
    env = _env(ui)
    tr = repo.currenttransaction()
    if tr is None:
        raise Refusal('no transaction to check')
    url = ui.config(b'ajar', b'url')
    if url:
        # Hook mode: a server Ajar does not run names the pusher.
        user_var = _s(ui.config(b'ajar', b'user_var') or b'REMOTE_USER')
        user = env.get(user_var)
        remote = _s(kwargs.get('url') or b'').startswith('remote:') or _s(kwargs.get('source') or b'') in ('serve', 'push')
        if not user:
            if not remote and not env.get('REMOTE_USER'):
                return False  # a local command on the server host, not a push
            raise Refusal('cannot tell who is pushing: %s is not set by the server' % user_var)
        token_file = _s(ui.config(b'ajar', b'token_file') or b'')
        try:
            with open(token_file) as f:
                token = f.read().strip()
        except OSError:
            raise Refusal('cannot read the hook account token file')
        repo_name = _s(ui.config(b'ajar', b'repo') or b'')
        if not repo_name:
            raise Refusal('the hook does not know the repository name; reinstall it with ajar install-hook --repo')
        body = {'repo': repo_name, 'user': user}
        auth, url = token, _s(url)
    else:
        url, auth, repo_name = env.get('AJAR_HOOK_URL'), env.get('AJAR_PUSH_SESSION'), env.get('AJAR_HG_REPO')
        if not url or not auth or not repo_name:
            raise Refusal('this change did not come through Ajar (no session); push through the Ajar gateway')
        body = {'repo': repo_name}
    changes = _changes(ui, repo, tr)
    if not changes:
        return False  # nothing Ajar decides on (e.g. a cache-only transaction)
    body['changes'] = changes
    answer = _ask(url, auth, body)
    _say(ui, [_s(line) for line in answer['lines']])
    return not answer['allow']
