"""The Go environment's variables: setup fills /env/go/mod; build and test are offline."""

from __future__ import annotations

from activities.sandbox.go_env import GOMODCACHE, with_go_variables


def test_setup_writes_the_environments_module_cache_deletably() -> None:
    env = with_go_variables({"CGO_ENABLED": "0"}, setup=True)
    assert env["GOMODCACHE"] == GOMODCACHE == "/env/go/mod"
    assert env["GOFLAGS"] == "-modcacherw" and env["CGO_ENABLED"] == "0"
    assert "GOPROXY" not in env  # setup reaches the proxy the repository or go picks


def test_build_and_test_never_try_the_network_nor_rewrite_go_mod() -> None:
    env = with_go_variables({}, setup=False)
    assert (env["GOPROXY"], env["GOSUMDB"], env["GOMODCACHE"]) == ("off", "off", GOMODCACHE)
    assert env["GOCACHE"].startswith("/home/builder/") and "GOFLAGS" not in env


def test_the_repositorys_variables_win_but_setup_keeps_a_deletable_cache() -> None:
    own = {"GOPROXY": "https://goproxy.example", "GOFLAGS": "-tags=integration"}
    assert with_go_variables(own, setup=False)["GOPROXY"] == "https://goproxy.example"
    assert with_go_variables(own, setup=True)["GOFLAGS"] == "-tags=integration -modcacherw"
