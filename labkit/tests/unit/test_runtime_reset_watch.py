"""`make reset` and `make watch` without processes: reset removes exactly a part's declared data under its own run
folder (never its logs, another part's folder, or anything a link points to) and is refused while the part runs;
watch prints one row per sample under a header until it is told to stop, and a failing sample does not end it."""
import pytest

from common.errors import StackError
from common.settings import Settings
from labkit.runtime.control import Part
from labkit.runtime.safefs import UnsafePathError, remove_under
from labkit.runtime.spec import PARTS, load_data
from labkit.runtime.watch import watch

pytestmark = pytest.mark.unit


def files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def run_dir(tmp_path):
    """Every part's run folder as a native run leaves it: data, broker data, logs, environments."""
    run = tmp_path / "run"
    for part in PARTS:
        for name in ("data/inventory.db", "data/inventory.db-wal", "logs/order-service.log", "env/order-service.json",
                     "supervisord.conf"):
            (run / part / name).parent.mkdir(parents=True, exist_ok=True)
            (run / part / name).write_text(name)
    for name in ("rabbitmq/mnesia/foodlab@localhost/msg_stores/0.rdq", "rabbitmq/conf/rabbitmq.conf",
                 "rabbitmq-2/mnesia/foodlab2@localhost/quorum/x", "rabbitmq-2/home/.erlang.cookie",
                 "rabbitmq-cluster.cookie"):
        (run / "async-rabbitmq" / name).parent.mkdir(parents=True, exist_ok=True)
        (run / "async-rabbitmq" / name).write_text(name)
    for name in ("kafka/data/OrderEvents-0/00000000000000000000.log", "kafka/server.properties",
                 "cluster/kafka-2/data/meta.properties", "cluster/cluster.id"):
        (run / "streaming-kafka" / name).parent.mkdir(parents=True, exist_ok=True)
        (run / "streaming-kafka" / name).write_text(name)
    return run


def reset(run_dir, part: str) -> list[str]:
    return Part(part, Settings(run_dir=run_dir)).reset(progress=lambda _m: None)


@pytest.mark.parametrize("part, gone, kept", [
    ("sync-rest", {"data/inventory.db", "data/inventory.db-wal"}, set()),
    ("async-rabbitmq", {"data/inventory.db", "data/inventory.db-wal",
                        "rabbitmq/mnesia/foodlab@localhost/msg_stores/0.rdq",
                        "rabbitmq-2/mnesia/foodlab2@localhost/quorum/x"},
     {"rabbitmq/conf/rabbitmq.conf", "rabbitmq-2/home/.erlang.cookie", "rabbitmq-cluster.cookie"}),
    ("streaming-kafka", {"data/inventory.db", "data/inventory.db-wal",
                         "kafka/data/OrderEvents-0/00000000000000000000.log", "cluster/kafka-2/data/meta.properties",
                         "cluster/cluster.id"}, {"kafka/server.properties"}),
])
def test_reset_removes_the_parts_data_and_nothing_else(run_dir, part, gone, kept):
    before = {p: files(run_dir / p) for p in PARTS}
    assert gone <= before[part] and kept <= before[part]
    reset(run_dir, part)
    assert files(run_dir / part) == before[part] - gone
    assert {"logs/order-service.log", "env/order-service.json", "supervisord.conf"} | kept <= files(run_dir / part)
    assert all(files(run_dir / p) == before[p] for p in PARTS if p != part)
    assert reset(run_dir, part) == []  # nothing left to remove: a second reset is a no-op


def test_every_part_declares_its_data_inside_its_own_folder():
    for part in PARTS:
        data = load_data(part)
        assert "data" in data, part  # the SQLite files: stock, orders, idempotency keys
        assert all(not d.startswith(("/", "..")) and "logs" not in d for d in data), (part, data)


def test_reset_is_refused_while_the_part_runs(run_dir, monkeypatch):
    monkeypatch.setattr(Part, "alive", lambda self: True)
    with pytest.raises(StackError, match=r"sync-rest is running: `make down` first"):
        reset(run_dir, "sync-rest")
    assert "data/inventory.db" in files(run_dir / "sync-rest")


def test_reset_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "keep.db").write_text("not ours")
    (outside / "deep" / "keep.txt").write_text("not ours")
    (outside / "data").mkdir()
    (outside / "data" / "00.log").write_text("not ours")
    part = tmp_path / "run" / "streaming-kafka"
    (part / "data").mkdir(parents=True)
    (part / "data" / "linked-dir").symlink_to(outside)  # a link inside a tree that is removed
    (part / "data" / "linked.db").symlink_to(outside / "keep.db")
    (part / "kafka").symlink_to(outside)  # a link on the way to kafka/data
    (part / "cluster").symlink_to(outside / "deep")  # a link where a tree is expected
    with pytest.raises(UnsafePathError, match="kafka"):
        remove_under(part, ["data", "kafka/data"])
    assert not (part / "data").exists()  # removed before kafka/data was refused
    assert remove_under(part, ["cluster"]) == ["cluster"] and not (part / "cluster").is_symlink()
    assert (outside / "keep.db").read_text() == "not ours" and (outside / "deep" / "keep.txt").exists()
    assert (outside / "data" / "00.log").exists()  # kafka/data, behind the link, was never touched


def test_reset_refuses_a_run_folder_that_is_a_link(tmp_path):
    (tmp_path / "elsewhere" / "data").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "sync-rest").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        reset(tmp_path / "run", "sync-rest")
    assert (tmp_path / "elsewhere" / "data").is_dir()


def test_remove_under_takes_only_paths_inside(tmp_path):
    for bad in ("../x", "/etc", "data/../../x"):
        with pytest.raises(ValueError):
            remove_under(tmp_path, [bad])


def test_watch_prints_a_header_then_one_row_per_sample():
    lines: list[str] = []
    samples = iter([{"inventory-group": 5000, "analytics-group": 7}, {"inventory-group": 0, "analytics-group": 0}])
    assert watch(lambda: next(samples), count=2, out=lines.append, sleep=lambda _s: None, clock=lambda: "12:00:00") == 0
    assert lines[0].split() == ["time", "inventory-group", "analytics-group"]
    assert lines[1].split() == ["12:00:00", "5000", "7"] and lines[2].split() == ["12:00:00", "0", "0"]


def test_watch_goes_on_after_a_failing_sample_and_ends_on_ctrl_c():
    lines: list[str] = []
    calls = iter([ConnectionError("broker restarting\nsecond line"), {"inventory_orders": "3+1"}, KeyboardInterrupt()])

    def sample():
        step = next(calls)
        if isinstance(step, BaseException):
            raise step
        return step

    assert watch(sample, out=lines.append, sleep=lambda _s: None, clock=lambda: "t") == 0
    assert lines == ["t  ConnectionError: broker restarting", lines[1], "t  " + "3+1".rjust(16)]
    assert lines[1].split() == ["time", "inventory_orders"]


def test_watch_repeats_the_header_when_the_columns_change():
    lines: list[str] = []
    samples = iter([{"a": 1}, {"a": 1, "b": 2}])
    watch(lambda: next(samples), count=2, out=lines.append, sleep=lambda _s: None, clock=lambda: "t")
    assert [ln.split()[0] for ln in lines] == ["time", "t", "time", "t"]
