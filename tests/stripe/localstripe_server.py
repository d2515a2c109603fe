"""Runs localstripe (a stateful fake of Stripe's API, GPL) as a separate process bound to
127.0.0.1, keeping its state in memory only.

    python tests/stripe/localstripe_server.py PORT

localstripe's own command binds every interface and pickles its state to a fixed file in the
system temp folder after every write; both are switched off here. Reset its state with
`DELETE /_config/data`.
"""

import sys

import aiohttp.web
import localstripe.resources
import localstripe.server


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8420
    localstripe.resources.Store.dump_to_disk = lambda self, *a, **k: None
    localstripe.resources.Store.try_load_from_disk = lambda self, *a, **k: None
    aiohttp.web.run_app(
        localstripe.server.app, host="127.0.0.1", port=port, print=None
    )


if __name__ == "__main__":
    main()
