"""``downwind api-server`` (alias ``webserver``): serve the REST API until stopped."""

from __future__ import annotations

import argparse

from downwind.cli.metastore_session import check_metastore_ready
from downwind.config import get_config


def api_server(args: argparse.Namespace) -> int:
    """Serve the API on ``[api] host``/``port`` (or ``--host``/``--port``) until
    SIGINT/SIGTERM; an unmigrated metastore or a taken port is one ``error:`` line."""
    check_metastore_ready()
    from downwind.api.server import serve

    return serve(get_config(), host=args.host, port=args.port, workers=args.workers)
