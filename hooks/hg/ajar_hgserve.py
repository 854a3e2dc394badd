# SSH mode for Mercurial: what `hg -R <repo> serve --stdio` runs, with Ajar's
# settings forced on the repository (Mercurial refuses --config on
# `serve --stdio`, and a repository's own hgrc must not undo them). Started by
# `ajar ssh-command` after Ajar said the user may read; the hooks ask Ajar about
# every change (AJAR_HG_READONLY=1, when Ajar gave no push session, refuses every
# transaction).
import os
import sys

from mercurial import hg, ui as uimod, wireprotoserver

from ajar_hg import served_config


def main():
    path = sys.argv[1].encode()
    u = uimod.ui.load()
    repo = hg.repository(u, path)
    user = os.environ.get('AJAR_HG_USER', '').encode()
    write = os.environ.get('AJAR_HG_READONLY') != '1'
    for section, name, value in served_config(user, write):
        repo.ui.setconfig(section, name, value, b'ajar')
        u.setconfig(section, name, value, b'ajar')
    wireprotoserver.sshserver(u, repo).serve_forever()


if __name__ == '__main__':
    main()
