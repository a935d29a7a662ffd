"""``python -m simulator --host 127.0.0.1 --port 0``: serve until killed."""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (imports after monkey-patching, on purpose)
import gc  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

from simulator.app import create_app  # noqa: E402
from simulator.control import SimState  # noqa: E402
from simulator.server import make_server  # noqa: E402


def parse_args(argv: list) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-log", type=int, default=100_000,
                        help="request-log entries kept (oldest dropped first)")
    return parser.parse_args(argv)


def raise_fd_limit() -> None:
    """Thousands of concurrent streams need thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def main(argv: list | None = None) -> None:
    """Start listening, announce the port on stdout, then serve forever."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_fd_limit()
    server = make_server(create_app(SimState(max_log=args.max_log)), host=args.host,
                         port=args.port)
    gc.freeze()  # start-up objects never need collecting: keeps GC pauses short under load
    print(f"SIMULATOR_PORT={server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
