"""common.metrics: the Accept negotiation, route-template labels, the multiprocess directory and its sums."""
import os
import subprocess
import sys
import textwrap

import pytest
from flask import jsonify
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from common import gunicorn_conf
from common.metrics import UNMATCHED, prepare_multiprocess_dir, wants_exposition
from common.web import create_base_app
from labkit.testing import scrape


@pytest.mark.unit
@pytest.mark.parametrize("accept, wanted", [
    ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", True),
    ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", True),
    ("text/plain; version=0.0.4", True),
    ("application/json", False),
    ("text/plain", False),
    ("*/*", False),
    ("", False),
    (None, False),
])
def test_wants_exposition_follows_prometheus_accept_header(accept, wanted):
    assert wants_exposition(accept) is wanted


@pytest.mark.unit
def test_prepare_multiprocess_dir_empties_a_previous_runs_files(tmp_path):
    path = tmp_path / "metrics" / "order-service"
    assert prepare_multiprocess_dir(str(path)) == str(path) and path.is_dir()
    (path / "counter_123.db").write_bytes(b"old")
    (path / "gauge_livesum_9.db").write_bytes(b"old")
    (path / "README").write_text("not ours")
    prepare_multiprocess_dir(str(path))
    assert sorted(p.name for p in path.iterdir()) == ["README"]


@pytest.mark.unit
def test_gunicorn_metrics_dir_keeps_the_runtimes_and_else_makes_one(tmp_path):
    given = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
    assert gunicorn_conf.metrics_dir(given) == str(tmp_path / "m")
    (tmp_path / "m").mkdir()
    env: dict[str, str] = {}
    made = gunicorn_conf.metrics_dir(env)
    try:
        assert env["PROMETHEUS_MULTIPROC_DIR"] == made and os.path.isdir(made) and not os.listdir(made)
    finally:
        gunicorn_conf.on_exit(None)  # the server removes the directory it made, and only that one
    assert not os.path.exists(made) and (tmp_path / "m").is_dir()


@pytest.mark.service
def test_http_metrics_use_route_templates_and_bounded_labels(tmp_settings):
    app = create_base_app("metrics-test", tmp_settings)

    @app.get("/thing/<thing_id>")
    def thing(thing_id):
        return jsonify({"id": thing_id})

    client = app.test_client()
    before = scrape(client)
    for i in range(3):
        assert client.get(f"/thing/ORD-1-{i:08x}").status_code == 200
    assert client.get("/no/such/ORD-2-deadbeef").status_code == 404
    assert client.open("/thing/x", method="BREW").status_code == 405
    after = scrape(client)

    def grew(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("http_requests_total", route="/thing/<thing_id>", method="GET", status="200") == 3
    assert grew("http_request_duration_seconds_count", route="/thing/<thing_id>", method="GET") == 3
    assert grew("http_requests_total", route=UNMATCHED, method="GET", status="404") == 1
    assert grew("http_requests_total", route=UNMATCHED, method="OTHER", status="405") == 1  # no rule matched
    assert not any("ORD-" in v or "BREW" in v for v in after.label_values())


@pytest.mark.service
def test_openmetrics_when_asked_and_text_by_default(tmp_settings):
    client = create_base_app("metrics-test", tmp_settings).test_client()
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0"})
    assert r.status_code == 200 and r.mimetype == "application/openmetrics-text"
    assert "http_requests" in {f.name for f in parse_openmetrics(r.get_data(as_text=True))}
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"


CHILD = textwrap.dedent("""
    import sys
    from common.metrics import count_order, exposition
    if sys.argv[1] == "count":
        count_order("confirmed", n=int(sys.argv[2]))
    else:
        sys.stdout.write(exposition(None)[0].decode())
""")


@pytest.mark.service
def test_multiprocess_mode_sums_every_process(tmp_path):
    """What gunicorn's workers do: each process writes its own file; a scrape in any of them sums them all."""
    from labkit.testing import Scrape

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": prepare_multiprocess_dir(str(tmp_path / "mp"))}
    for n in (2, 5):
        subprocess.run([sys.executable, "-c", CHILD, "count", str(n)], env=env, check=True, timeout=60)
    out = subprocess.run([sys.executable, "-c", CHILD, "scrape"], env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert Scrape(out).value("orders_total", outcome="confirmed") == 7
    assert len(list((tmp_path / "mp").glob("counter_*.db"))) == 2
