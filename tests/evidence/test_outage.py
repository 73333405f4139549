"""PostgreSQL stopped and the network to it frozen, mid-load: bounded 503s, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress import effects
from stress.outage import LEASE, NETWORK_TIMEOUT, SECRET, load, report
from stress.proxy import FreezableProxy
from stress.servers import KINDS, serving

from idwise_events.testing.postgres import TemporaryPostgres
from tests.conftest import require_postgres_programs

from .conftest import once


@once
@pytest.mark.parametrize("kind", KINDS)
def test_store_faults_mid_load_give_bounded_503s_and_lose_nothing(
    kind: str, tmp_path: Path
) -> None:
    """Its own PostgreSQL server (this test stops it), reached through a freezable proxy."""
    require_postgres_programs()
    with TemporaryPostgres() as postgres, FreezableProxy(("127.0.0.1", postgres.port)) as proxy:
        info = effects.conninfo(postgres.port)
        effects.create(info)
        env = {
            "STRESS_EFFECTS": info,
            "STRESS_NETWORK_TIMEOUT": str(NETWORK_TIMEOUT),
            "STRESS_LEASE": str(LEASE),
        }
        store_url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/postgres"
        with serving(
            kind, store_url=store_url, folder=tmp_path, workers=2, secret=SECRET, env=env
        ) as server:
            run = load(server, info, postgres, proxy, freeze=3, outage=3, clients=6)
    assert report(kind, run) == []


def test_the_proxy_holds_traffic_while_frozen_and_forwards_it_when_thawed() -> None:
    """What the outage test relies on: a frozen proxy delivers nothing, then everything."""
    import socket

    with (
        socket.create_server(("127.0.0.1", 0)) as upstream,
        FreezableProxy(upstream.getsockname()) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client,
    ):
        accepted, _ = upstream.accept()
        with accepted:
            accepted.settimeout(0.5)
            proxy.freeze()
            client.sendall(b"held")
            with pytest.raises(TimeoutError):
                accepted.recv(4)
            proxy.thaw()
            accepted.settimeout(5)
            assert accepted.recv(4) == b"held"
