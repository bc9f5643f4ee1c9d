# moto_server with every request handled alone: the test S3 server of strata_tests::s3_server.
#
# Why: moto's threaded server runs requests at once, and its conditional PUT (If-None-Match: *,
# the repository's put-if-absent) first looks for the key, then writes it, without a lock, so two
# racing writers can both be told 200 (seen in the two-writer test). Real S3 makes the
# conditional write atomic; so must the test server, or a test of the commit protocol proves
# nothing. Here the WSGI application runs under one lock: requests execute one at a time, in
# some order, each seeing the effects of the ones before (a linearizable server), while
# connections are still served by threads, so an idle keep-alive connection never blocks another
# client (as a server started with threading off would). Only the application call is locked:
# moto builds each response whole in memory, and sending it to the client happens after the
# lock is released.
#
# Run as `python3 -c "$(cat moto_serial.py)" -H 127.0.0.1 -p PORT` (the harness passes the text
# with -c); the arguments are moto_server's.
import sys
import threading

from moto import server


class Serial:
    """A WSGI application that runs `app` for one request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body

    def __getattr__(self, name):
        # moto sets attributes such as `debug` on its application.
        return getattr(self.app, name)


def run_simple(host, port, app, **kwargs):
    return _run_simple(host, port, Serial(app), **kwargs)


_run_simple = server.run_simple
server.run_simple = run_simple
sys.exit(server.main(sys.argv[1:]))
