"""One of `motcua run`'s API processes: uvicorn serving `api.main:app` on the listening socket it
inherits from `motcua run`, which all its API processes share.

python -m motcua.api_process --fd N

One socket, opened once by `motcua run`, accepted on by every API process (as gunicorn's
workers do): the kernel hands each connection to a process that is free to take it, one that
died leaves the others serving the port, and the port stays open while it is restarted.
(uvicorn's own `--workers` restarts nothing itself; SO_REUSEPORT would let an unrelated server
bind the same port, and hand connections to a frozen process.)
"""

import argparse
import socket

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    args = parser.parse_args()
    # `socket(fileno=…)` reads the socket's own family, TCP, so asyncio turns Nagle's algorithm
    # off on its connections; uvicorn's `--fd` takes any socket for a Unix one, and each of its
    # responses then waited about 40 ms for the client's delayed acknowledgement.
    listener = socket.socket(fileno=args.fd)
    uvicorn.Server(uvicorn.Config("api.main:app", access_log=False)).run(sockets=[listener])


if __name__ == "__main__":
    main()
