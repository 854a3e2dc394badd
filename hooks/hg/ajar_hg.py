# Ajar's Mercurial hooks: the authority on what a push may change.
#
# pretxnclose runs inside every transaction before it commits, after the data
# arrived; it sees exactly what would land: the new changesets (their
# branches, branch-closing commits), bookmark moves, phase changes (draft ->
# public) and obsolescence markers, whether they came by unbundle or pushkey.
# It asks Ajar, and anything short of a clear "allow" rejects the transaction:
# fail closed. A use-bound grant's use is counted once the transaction has
# committed (and given back if it did not).
#
# prepushkey is for older clients (bundle1, or a raw ?cmd=pushkey), which move
# each bookmark and phase and send obsolescence markers in a pushkey command
# of its own: Mercurial shows them what a prepushkey hook says, but a
# refusal inside the pushkey's transaction only as an HTTP 500. So the change
# is checked there first (a refusal is audited and told, with the command to
# ask); pretxnclose still decides the transaction itself.
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

from mercurial import obsolete, phases, util
from mercurial.node import bin, hex

TIMEOUT = 30
# Transactions a pushkey command opens (bookmarks.pushbookmark, phases.pushphase,
# obsolete.pushmarker): always a remote client's, never a local command.
PUSHKEY_TRANSACTIONS = ('bookmarks', 'pushkey-phase', 'pushkey: obsolete markers')


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
        (b'hooks', b'prepushkey.ajar', b'python:%s:prepushkey' % me),
    ]


def _say(ui, lines):
    for line in lines:
        ui.warn(b'ajar: %s\n' % line.encode('utf-8', 'replace'))


def pretxnopen_readonly(ui, repo, **kwargs):
    """Refuse every transaction of a session that has no push session at all."""
    env = _env(ui)
    if env.get('AJAR_HG_READONLY') == '1':
        _say(ui, [env.get('AJAR_HG_READONLY_WHY') or 'this session may only read', 'the push is refused'])
        return True
    return False


class _Branches(object):
    """(branch, closes) of each revision, read from the changelog once: a push of
    thousands of changesets asks it for the new ones, the closed and the published."""

    def __init__(self, unfi):
        self.cl = unfi.changelog
        self.seen = {}

    def __call__(self, rev):
        info = self.seen.get(rev)
        if info is None:
            info = self.seen[rev] = self.cl.branchinfo(rev)
        return info


def _by_branch(unfi, revs, kind, branches=None):
    # The changelog alone (no changectx per revision: a push of thousands stays cheap).
    cl = unfi.changelog
    branchinfo = branches or _Branches(unfi)
    by = {}
    for rev in revs:
        by.setdefault(_s(branchinfo(rev)[0]), []).append(rev)
    return [{'type': kind, 'branch': b, 'nodes': [_s(hex(cl.node(r))) for r in rs[:50]], 'count': len(rs)} for b, rs in sorted(by.items())]


def _bookmark(name, old, new):
    op = 'create' if not old else 'delete' if not new else 'move'
    return {'type': 'bookmark', 'bookmark': _s(name), 'op': op, 'old': old or None, 'new': new or None}


def _obsoleted(unfi, markers):
    rewritten = {}
    for marker in markers:
        prec = marker[0]
        entry = {'node': _s(hex(prec))}
        if prec in unfi:
            ctx = unfi[prec]
            entry['branch'] = _s(ctx.branch())
            entry['public'] = ctx.phase() == phases.public
        rewritten[entry['node']] = entry
    return [dict(e, type='obsolete') for e in sorted(rewritten.values(), key=lambda e: e['node'])]


def _changes(ui, repo, tr):
    """What the transaction would change, as Ajar's checks."""
    unfi = repo.unfiltered()
    start = tr.changes.get(b'origrepolen', len(unfi))
    new = range(start, len(unfi))
    branches = _Branches(unfi)
    out = _by_branch(unfi, new, 'changesets', branches)
    out += _by_branch(unfi, [r for r in new if branches(r)[1]], 'close', branches)
    for name, (old, new_) in sorted(tr.changes.get(b'bookmarks', {}).items()):
        out.append(_bookmark(name, _s(hex(old)) if old else None, _s(hex(new_)) if new_ else None))
    publishing = ui.configbool(b'phases', b'publish')
    published = []
    for revs, (old, new_) in tr.changes.get(b'phases', []):
        # New changesets that land public on a publishing repository are published by
        # being pushed there; anything else turning public is publishing.
        if new_ == phases.public and not (old is None and publishing):
            published.extend(revs)
    out += _by_branch(unfi, published, 'publish', branches)
    return out + _obsoleted(unfi, tr.changes.get(b'obsmarkers', ()))


def _pushkey_changes(repo, kwargs):
    """What one pushkey command would change, as Ajar's checks (what Mercurial
    itself would refuse, e.g. a stale old value, changes nothing)."""
    namespace, key, old, new = (kwargs.get(k) or b'' for k in ('namespace', 'key', 'old', 'new'))
    unfi = repo.unfiltered()
    if namespace == b'bookmarks':
        existing = unfi._bookmarks.get(key)
        existing = hex(existing) if existing else b''
        if existing != old or old == new:
            return []
        return [_bookmark(key, _s(old), _s(new))]
    if namespace == b'phases':
        if new != b'%d' % phases.public or bin(key) not in unfi:
            return []
        return _by_branch(unfi, unfi.revs(b'::%n - public()', bin(key)), 'publish')
    if namespace == b'obsolete':
        if not key.startswith(b'dump') or old:
            return []
        _, markers = obsolete._readmarkers(util.b85decode(new))
        known = unfi.obsstore.successors
        return _obsoleted(unfi, [m for m in markers if m not in known.get(m[0], ())])
    raise Refusal('Ajar does not know the pushkey namespace %r; refused' % _s(namespace))


def _ask(url, auth, path, body):
    req = urllib.request.Request(
        url.rstrip('/') + path,
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
        return json.loads(text)
    except ValueError:
        raise Refusal('Ajar gave an answer the hook cannot read')


def _guarded(ui, decide):
    try:
        return decide()
    except Refusal as e:
        _say(ui, [str(e), 'the push is refused (Ajar fails closed)'])
        return True
    except Exception as e:  # a bug must not let a push through
        _say(ui, ['unexpected error in the hook (%s)' % e, 'the push is refused (Ajar fails closed)'])
        return True


def pretxnclose(ui, repo, **kwargs):
    return _guarded(ui, lambda: _decide_transaction(ui, repo, kwargs))


def prepushkey(ui, repo, **kwargs):
    if repo.currenttransaction() is not None:
        return False  # a pushkey part of a bundle2 push: its transaction's pretxnclose decides
    if pretxnopen_readonly(ui, repo):
        return True
    return _guarded(ui, lambda: _decide(ui, _pushkey_changes(repo, kwargs), kwargs, pushkey=True, check=True))


def _decide_transaction(ui, repo, kwargs):
    tr = repo.currenttransaction()
    if tr is None:
        raise Refusal('no transaction to check')
    pushkey = _s(kwargs.get('txnname') or b'') in PUSHKEY_TRANSACTIONS
    return _decide(ui, _changes(ui, repo, tr), kwargs, pushkey=pushkey, check=False, tr=tr, repo=repo)


def _caller(ui, kwargs, pushkey):
    """(url, auth, body) to ask Ajar with; None for a local command on the server host."""
    env = _env(ui)
    url = ui.config(b'ajar', b'url')
    if not url:
        url, auth, repo_name = env.get('AJAR_HOOK_URL'), env.get('AJAR_PUSH_SESSION'), env.get('AJAR_HG_REPO')
        if not url or not auth or not repo_name:
            raise Refusal('this change did not come through Ajar (no session); push through the Ajar gateway')
        return url, auth, {'repo': repo_name}
    # Hook mode: a server Ajar does not run names the pusher.
    user_var = _s(ui.config(b'ajar', b'user_var') or b'REMOTE_USER')
    user = env.get(user_var)
    if not user:
        remote = pushkey or _s(kwargs.get('url') or b'').startswith('remote:') or _s(kwargs.get('source') or b'') in ('serve', 'push')
        if not remote and not env.get('REMOTE_USER'):
            return None
        raise Refusal('cannot tell who is pushing: %s is not set by the server' % user_var)
    try:
        with open(_s(ui.config(b'ajar', b'token_file') or b'')) as f:
            token = f.read().strip()
    except OSError:
        raise Refusal('cannot read the hook account token file')
    repo_name = _s(ui.config(b'ajar', b'repo') or b'')
    if not repo_name:
        raise Refusal('the hook does not know the repository name; reinstall it with ajar install-hook --repo')
    return _s(url), token, {'repo': repo_name, 'user': user}


def _decide(ui, changes, kwargs, pushkey, check, tr=None, repo=None):
    """True refuses. `check`: a prepushkey's question, decided again by pretxnclose."""
    caller = _caller(ui, kwargs, pushkey)
    if caller is None:
        return False  # a local command on the server host, not a push
    if not changes:
        return False  # nothing Ajar decides on (e.g. a cache-only transaction)
    url, auth, body = caller
    body['changes'] = changes
    if check:
        body['check'] = True
    answer = _ask(url, auth, '/v1/hg/push', body)
    if not isinstance(answer.get('allow'), bool) or not isinstance(answer.get('lines'), list):
        raise Refusal('Ajar gave an answer the hook cannot read')
    _say(ui, [_s(line) for line in answer['lines']])
    reservation = answer.get('reservation')
    if answer['allow'] and tr is not None and isinstance(reservation, str):
        who = {k: body[k] for k in ('repo', 'user') if k in body}
        _settle_after(ui, repo, tr, url, auth, dict(who, reservation=reservation))
    return not answer['allow']


def _settle_after(ui, repo, tr, url, auth, body):
    """Once the repository is unlocked: tell Ajar whether the transaction committed,
    so the use-bound grants it relied on count this use, or get it back."""
    committed = []
    tr.addpostclose(b'ajar-uses', lambda tr: committed.append(True))

    def settle(_success):
        try:
            _ask(url, auth, '/v1/hg/push/settle', dict(body, committed=bool(committed)))
        except Refusal as e:
            _say(ui, ['%s; the grant use stays reserved and counts when the reservation times out' % e])

    repo._afterlock(settle)
