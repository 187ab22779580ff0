"""moto's server, handling one request at a time.

DynamoDB runs each TransactWriteItems atomically and serializably. moto's stock server is
threaded and checks, applies and rolls back a transaction without a lock, so two concurrent
transactions can interleave in ways DynamoDB never shows (a rolled-back loser restoring an
item the winner had just written). Serving requests one by one gives the tests DynamoDB's
guarantee back; everything else is moto as shipped.

usage: python moto_serial.py HOST PORT
"""

import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
