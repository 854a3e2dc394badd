# A warm hgweb for Ajar's Mercurial gateway: Mercurial's own hgweb as a WSGI
# application, served on a Unix socket only Ajar can open (mode 0600), so
# clones do not pay Python's start-up for every request.
#
# Ajar has already authenticated the user and checked the grant; it says so in
# X-Ajar-* headers, which only it can send here. Per request the repository is
# told who may read and who may push (Mercurial then checks every wire command
# itself, batch sub-commands included), Ajar's hooks are forced on, and drafts
# stay drafts (publishing needs its own grant).
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


class AjarHgweb(hgweb_mod.hgweb):
    def _runwsgi(self, req, res, repo):
        env = req.rawenv
        user = env.get(b'REMOTE_USER', b'')
        write = env.get(b'AJAR_HG_WRITE') == b'1'
        for section, name, value in served_config(user, write):
            repo.ui.setconfig(section, name, value, b'ajar')
        return super()._runwsgi(req, res, repo)


def application(environ, start_response):
    # Only what Ajar put there: the X-Ajar-* headers become the request's
    # environment, and nothing else of that name survives.
    headers = {k: environ.pop(k) for k in [k for k in environ if k.startswith('HTTP_X_AJAR_')]}
    repo_dir = headers.get('HTTP_X_AJAR_REPO_DIR')
    if not repo_dir or not os.path.isabs(repo_dir):
        start_response('400 Bad Request', [('Content-Type', 'text/plain')])
        return [b'no repository\n']
    environ['REMOTE_USER'] = headers.get('HTTP_X_AJAR_USER', '')
    environ['AJAR_HG_WRITE'] = headers.get('HTTP_X_AJAR_WRITE', '0')
    environ['AJAR_HG_READONLY'] = '0' if environ['AJAR_HG_WRITE'] == '1' else '1'
    environ['AJAR_HG_READONLY_WHY'] = 'you have no active grant to change this repository'
    for name in ('AJAR_PUSH_SESSION', 'AJAR_HOOK_URL', 'AJAR_HG_REPO'):
        value = headers.get('HTTP_X_' + name)
        if value:
            environ[name] = value
    # The repository's path was checked by Ajar; hgweb sees it as the root.
    environ['SCRIPT_NAME'] = headers.get('HTTP_X_AJAR_SCRIPT_NAME', '')
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
        # A Unix socket has no client address; Ajar passes the real one.
        self.client_address = (self.headers.get('X-Ajar-Remote-Addr', ''), 0)
        return super().get_environ()

    def log_message(self, format, *args):  # Ajar logs requests itself
        pass


class UnixWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    address_family = socket.AF_UNIX
    daemon_threads = True

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = 'ajar-hgweb', 0
        self.setup_environ()


def main():
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
