"""`make observe`'s Prometheus configuration: a job per HTTP service of the part on loopback (never a broker's
AMQP or Kafka port, never a profile-only service), Part B's rabbitmq_prometheus nodes, and a file promtool
accepts."""
import json
import shutil
import subprocess

import pytest

from common.settings import Settings
from labkit.observe import argv, config, write_config

pytestmark = pytest.mark.unit


def jobs(part, settings):
    return {c["job_name"]: c["static_configs"][0]["targets"] for c in config(part, settings)["scrape_configs"]}


def test_the_jobs_of_each_part(tmp_path):
    s = Settings(run_dir=tmp_path)
    assert jobs("sync-rest", s) == {"notification-service": ["127.0.0.1:6002"], "inventory-service": ["127.0.0.1:6001"],
                                    "order-service": ["127.0.0.1:6000"], "dashboard": ["127.0.0.1:6003"]}
    b = jobs("async-rabbitmq", s)
    assert b["rabbitmq"] == ["127.0.0.1:15679"] and "order-service" in b
    c = jobs("streaming-kafka", s)
    assert set(c) == {"inventory-consumer", "analytics-consumer", "producer-order", "dashboard"}


def test_a_cluster_scrapes_every_nodes_plugin_and_ports_follow_the_settings(tmp_path):
    s = Settings(run_dir=tmp_path, cluster_size=3, order_port=7000)
    b = jobs("async-rabbitmq", s)
    assert b["rabbitmq"] == ["127.0.0.1:15679", "127.0.0.1:15689", "127.0.0.1:15699"]
    assert b["order-service"] == ["127.0.0.1:7000"]


def test_the_written_file_is_valid_for_prometheus(tmp_path):
    s = Settings(run_dir=tmp_path)
    path = write_config("async-rabbitmq", s)
    assert json.loads(path.read_text())["global"]["scrape_interval"] == "5s"
    assert "--web.listen-address=127.0.0.1:9090" in argv("prometheus", path, s)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed: only the JSON was checked")
    out = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
