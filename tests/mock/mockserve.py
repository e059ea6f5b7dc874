"""What every mock of tests/mock/ does around its handler: the common flags, exiting with the
test process, telling it the port, serving."""

import os
import sys
import threading
import time


def add_common_args(ap):
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--parent-pid", type=int,
                    help="exit when this process is gone (no orphaned mocks after a crash)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM) ...")
    ap.add_argument("--tls-key", help="... and this key")


def watch_parent(pid):
    """Exits this process once pid is gone."""
    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    threading.Thread(target=watch, daemon=True).start()


def serve(srv, a, name):
    """Writes the bound port to --port-file (atomically), then serves until interrupted."""
    port = srv.server_address[1]
    scheme = "http"
    if getattr(a, "tls_cert", None):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    sys.stderr.write("%s: listening on %s://127.0.0.1:%d\n" % (name, scheme, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
