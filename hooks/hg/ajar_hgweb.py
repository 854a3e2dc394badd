# A warm hgweb for Ajar's Mercurial gateway: Mercurial's own hgweb as a WSGI
# application, served on a Unix socket only Ajar can open (mode 0600), so
# clones do not pay Python's start-up for every request.
#
# Ajar has already authenticated the user and checked the grant. It says so in
# one header, X-Ajar-Context: base64url(JSON) "." hex HMAC-SHA256 of that text
# under a secret Ajar wrote on this process's standard input at start. The
# client's own headers come along (hgweb needs them), and WSGI files
# `X_Ajar_User` under the same key as `X-Ajar-User`: so nothing of Ajar's is
# read from the WSGI environment. The context is taken from the raw headers by
# exact name, must be there once and carry a valid signature; a header name
# with "_" refuses the request; every HTTP_X_AJAR* key is dropped before hgweb
# runs. Per request the repository is told who may read and who may push
# (Mercurial then checks every wire command itself, batch sub-commands
# included), Ajar's hooks are forced on, and drafts stay drafts.
#
# Standard input stays open while Ajar runs: when it closes (Ajar exited, even
# by SIGKILL), this process exits too.
import base64
import hashlib
import hmac
import json
import os
import socket
import socketserver
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from mercurial import ui as uimod
from mercurial.hgweb import hgweb_mod

from ajar_hg import served_config

_cache = {}
_lock = threading.Lock()
_secret = b''


class AjarHgweb(hgweb_mod.hgweb):
    def _runwsgi(self, req, res, repo):
        env = req.rawenv
        user = env.get(b'REMOTE_USER', b'')
        write = env.get(b'AJAR_HG_WRITE') == b'1'
        for section, name, value in served_config(user, write):
            repo.ui.setconfig(section, name, value, b'ajar')
        return super()._runwsgi(req, res, repo)


def ajar_context(headers):
    """Ajar's values for this request from the raw headers, or (None, why not)."""
    if any('_' in name for name in headers.keys()):
        return None, 'header names with "_" are refused'
    values = headers.get_all('X-Ajar-Context') or []
    if len(values) != 1:
        return None, 'not from Ajar (no single X-Ajar-Context)'
    payload, _, mac = values[0].strip().partition('.')
    want = hmac.new(_secret, payload.encode('latin-1'), hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(want, mac.encode('latin-1')):
        return None, 'not from Ajar (the signature does not match)'
    try:
        context = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
    except ValueError:
        return None, 'not from Ajar (unreadable context)'
    if not isinstance(context, dict) or not all(isinstance(v, (str, bool)) for v in context.values()):
        return None, 'not from Ajar (unreadable context)'
    return context, None


def _refuse(start_response, why):
    body = ('ajar-hgweb: %s\n' % why).encode()
    start_response('400 Bad Request', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]


def application(environ, start_response):
    context = environ.pop('ajar.context', None)
    problem = environ.pop('ajar.problem', None)
    if context is None:
        return _refuse(start_response, problem or 'not from Ajar')
    repo_dir = context.get('repoDir')
    if not isinstance(repo_dir, str) or not os.path.isabs(repo_dir):
        return _refuse(start_response, 'no repository')
    write = context.get('write') is True
    environ['REMOTE_USER'] = str(context.get('user', ''))
    environ['AJAR_HG_WRITE'] = '1' if write else '0'
    environ['AJAR_HG_READONLY'] = '0' if write else '1'
    environ['AJAR_HG_READONLY_WHY'] = 'you have no active grant to change this repository'
    for key, name in (('session', 'AJAR_PUSH_SESSION'), ('hookUrl', 'AJAR_HOOK_URL'), ('repo', 'AJAR_HG_REPO')):
        value = context.get(key)
        if isinstance(value, str) and value:
            environ[name] = value
    # The repository's path was checked by Ajar; hgweb sees it as the root.
    environ['SCRIPT_NAME'] = ''
    with _lock:
        app = _cache.get(repo_dir)
        if app is None:
            app = _cache[repo_dir] = AjarHgweb(repo_dir.encode(), baseui=_baseui())
    return app(environ, start_response)


def _baseui():
    u = uimod.ui.load()
    u.setconfig(b'ui', b'report_untrusted', b'off', b'ajar')
    u.setconfig(b'ui', b'nontty', b'true', b'ajar')
    return u


class Handler(WSGIRequestHandler):
    def address_string(self):
        return 'ajar'

    def get_environ(self):
        context, problem = ajar_context(self.headers)
        # A Unix socket has no client address; Ajar passes the real one.
        self.client_address = ((context or {}).get('remoteAddr', ''), 0)
        env = super().get_environ()
        for key in [k for k in env if k.startswith('HTTP_X_AJAR')]:
            del env[key]
        env['ajar.context'] = context
        env['ajar.problem'] = problem
        return env

    def log_message(self, format, *args):  # Ajar logs requests itself
        pass


class UnixWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    address_family = socket.AF_UNIX
    daemon_threads = True

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = 'ajar-hgweb', 0
        self.setup_environ()


def _exit_with_ajar():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    global _secret
    try:
        _secret = bytes.fromhex(sys.stdin.buffer.readline().strip().decode('ascii'))
    except ValueError:
        _secret = b''
    if len(_secret) < 32:
        sys.exit('ajar-hgweb: Ajar gives the request-signing secret on standard input')
    threading.Thread(target=_exit_with_ajar, daemon=True).start()
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    old = os.umask(0o177)
    try:
        server = UnixWSGIServer(path, Handler)
    finally:
        os.umask(old)
    server.set_app(application)
    sys.stdout.write('ajar-hgweb ready\n')
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
