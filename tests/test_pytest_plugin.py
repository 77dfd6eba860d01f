"""The pytest11 plugin's ``kafkasim`` fixture: a running broker per test, stopped at teardown."""

from __future__ import annotations

import socket

from kafkasim.testing.wire import parse_bootstrap

pytest_plugins = ["pytester"]


def test_plugin_fixture_yields_running_cluster(kafkasim) -> None:
    host, port = parse_bootstrap(kafkasim.bootstrap_servers)
    with socket.create_connection((host, port), timeout=5):
        pass


def test_plugin_fixture_is_fresh_and_stopped(pytester) -> None:
    pytester.makepyfile("""
        import socket
        from kafkasim.testing.wire import parse_bootstrap
        seen = []

        def test_one(kafkasim):
            kafkasim.create_topic("a")
            seen.append(kafkasim.bootstrap_servers)
            assert "a" in kafkasim.state.topics

        def test_two(kafkasim):
            assert kafkasim.state.topics == {}
            host, port = parse_bootstrap(seen[0])
            try:
                socket.create_connection((host, port), timeout=1).close()
                still_open = True
            except OSError:
                still_open = False
            assert not still_open
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_cluster_run_in_thread_reraises_port_in_use(kafkasim) -> None:
    import pytest

    from kafkasim import Cluster

    port = int(kafkasim.bootstrap_servers.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        with Cluster(port=port).run_in_thread():
            pass
