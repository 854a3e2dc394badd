# A Mercurial web server that is not Ajar, run the way Apache or nginx with
# their own authentication run hgweb: Mercurial's hgweb as a WSGI application
# over one repository, pushes allowed to anyone (web.allow-push = *), and the
# front server's verdict on who is asking in REMOTE_USER.
#   /auth/...  asks for HTTP Basic credentials (401 until given) and sets
#              REMOTE_USER to the name (checking the password is the front
#              server's business, not what is tested here);
#   /anon/...  never sets REMOTE_USER.
# Usage: python3 plain_hgweb.py REPO_PATH; prints "listening on PORT".
import base64
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from mercurial import ui as uimod
from mercurial.hgweb import hgweb


class Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def main():
    u = uimod.ui.load()
    u.setconfig(b'web', b'allow-push', b'*', b'test')
    u.setconfig(b'web', b'push_ssl', b'false', b'test')
    app = hgweb(sys.argv[1].encode(), baseui=u)

    def front(environ, start_response):
        path = environ.get('PATH_INFO', '')
        auth = environ.pop('HTTP_AUTHORIZATION', '')
        if path.startswith('/auth'):
            if not auth.lower().startswith('basic '):
                start_response('401 Unauthorized', [('WWW-Authenticate', 'Basic realm="hg"'), ('Content-Length', '0')])
                return [b'']
            environ['REMOTE_USER'] = base64.b64decode(auth[6:]).decode().split(':', 1)[0]
            prefix = '/auth'
        elif path.startswith('/anon'):
            prefix = '/anon'
        else:
            start_response('404 Not Found', [('Content-Length', '0')])
            return [b'']
        environ['SCRIPT_NAME'] = prefix
        environ['PATH_INFO'] = path[len(prefix):]
        return app(environ, start_response)

    server = make_server('127.0.0.1', 0, front, handler_class=Quiet)
    sys.stdout.write('listening on %d\n' % server.server_port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
