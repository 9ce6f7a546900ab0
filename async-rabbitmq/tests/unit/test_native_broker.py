"""The native RabbitMQ runner's configuration: loopback only, its own node name, ports from settings; its
secrets owner-only from their first byte, and root's writes and chown in the rabbitmq user's folder following
no link."""
import os
import pathlib
import pwd
import shutil
import stat

import pytest

from async_rabbitmq.lab.broker.native import NativeBroker
from async_rabbitmq.messaging.nodes import nodes
from common.errors import StackError
from common.settings import Settings


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True

pytestmark = pytest.mark.unit


def test_environment_keeps_the_node_local_and_separate(tmp_path):
    s = Settings(run_dir=tmp_path, rabbitmq_port=5999, rabbitmq_mgmt_port=15999, rabbitmq_dist_port=25999,
                 rabbitmq_nodename="other@localhost")
    b = NativeBroker(s)
    env = b.env()
    assert env["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1" and env["ERL_EPMD_ADDRESS"] == "127.0.0.1"
    assert (env["RABBITMQ_NODE_PORT"], env["RABBITMQ_DIST_PORT"]) == ("5999", "25999")
    assert env["RABBITMQ_NODENAME"] == "other@localhost"
    assert "inet_dist_use_interface {127,0,0,1}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert all(str(tmp_path) in env[k] for k in ("HOME", "RABBITMQ_MNESIA_BASE", "RABBITMQ_LOG_BASE"))
    conf = b.config()
    assert "management.tcp.ip = 127.0.0.1" in conf and "management.tcp.port = 15999" in conf
    assert b.argv()[-1].endswith("rabbitmq-server")


# -- secrets on disk and root's chown (prepare() without a server: its install and epmd probes are stubbed) ----
@pytest.fixture
def prepared(tmp_path, monkeypatch):
    """A three-node cluster's NativeBroker for node 2 under a permissive umask, its prepare() runnable offline;
    returns (broker, writes) where writes records each file's mode at the moment bytes are written into it."""
    from async_rabbitmq.lab.broker import native
    monkeypatch.setattr(native, "ensure_installed", lambda settings: None)
    monkeypatch.setattr(native, "_listening", lambda port, host="127.0.0.1": True)
    writes: list[tuple[str, int]] = []
    real_write, real_write_text = os.write, pathlib.Path.write_text

    def spy_write(fd, data):  # the mode the file has when its first (and every) byte lands
        writes.append((os.readlink(f"/proc/self/fd/{fd}"), stat.S_IMODE(os.fstat(fd).st_mode)))
        return real_write(fd, data)

    def spy_write_text(self, *a, **kw):
        out = real_write_text(self, *a, **kw)
        writes.append((str(self), stat.S_IMODE(self.stat().st_mode)))
        return out

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(pathlib.Path, "write_text", spy_write_text)
    old = os.umask(0)
    try:
        s = Settings(run_dir=tmp_path / ".run", cluster_size=3)
        yield NativeBroker(s, node=nodes(s)[1]), writes
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_cluster_cookies_are_owner_only_from_their_first_byte(prepared, monkeypatch):
    broker, writes = prepared
    monkeypatch.setattr(NativeBroker, "run_as", lambda self: [])  # as a user: no chown
    broker.prepare()
    node_cookie = broker.home / ".erlang.cookie"
    assert _mode(broker.cookie_file) == 0o600 and _mode(node_cookie) == 0o400
    assert node_cookie.read_text() == broker.cookie_file.read_text() and len(node_cookie.read_text()) == 32
    cookie_writes = [(p, m) for p, m in writes if p.endswith("cookie") or "cookie." in p]
    assert cookie_writes, "the spy saw no write of a cookie"
    assert [(p, oct(m)) for p, m in cookie_writes if m & 0o077] == []
    # A later start reuses the cookie (the nodes must share it), and narrows one left wider by an older version.
    broker.cookie_file.chmod(0o644)
    broker.prepare()
    assert _mode(broker.cookie_file) == 0o600 and node_cookie.read_text() == broker.cookie_file.read_text()


def test_run_dirs_are_closed_to_other_users(prepared, monkeypatch):
    broker, _ = prepared
    monkeypatch.setattr(NativeBroker, "run_as", lambda self: [])
    broker.prepare()
    run_dir, part_dir = broker.settings.run_dir, broker.cookie_file.parent
    assert _mode(run_dir) == 0o700 and _mode(part_dir) == 0o700


def test_a_planted_cookie_link_is_refused_not_followed(prepared, tmp_path, monkeypatch):
    broker, _ = prepared
    monkeypatch.setattr(NativeBroker, "run_as", lambda self: [])
    outside = tmp_path / "outside"
    outside.write_text("not a cookie")
    broker.cookie_file.parent.mkdir(parents=True)
    broker.cookie_file.symlink_to(outside)
    with pytest.raises(StackError, match="symbolic link"):
        broker.prepare()
    assert outside.read_text() == "not a cookie" and _mode(outside) != 0o600


root_with_rabbitmq = pytest.mark.skipif(os.geteuid() != 0 or not _has_user("rabbitmq"),
                                        reason="chown to the rabbitmq user needs root and that user")


@root_with_rabbitmq
def test_prepare_as_root_never_hands_a_linked_file_to_rabbitmq(prepared, tmp_path):
    """The rabbitmq user owns its node's folder: links it plants there must not make root chown or write their
    targets on the next start."""
    broker, _ = prepared
    broker.prepare()
    rabbit = pwd.getpwnam("rabbitmq")
    assert os.stat(broker.mnesia).st_uid == rabbit.pw_uid  # the tree is handed over ...
    assert os.stat(broker.home / ".erlang.cookie").st_uid == rabbit.pw_uid
    outside_file, outside_dir = tmp_path / "outside-file", tmp_path / "outside-dir"
    outside_file.write_text("root's")
    outside_dir.mkdir()
    (outside_dir / "inner").write_text("root's too")
    conf_target = tmp_path / "outside-conf"
    conf_target.write_text("root's config")
    (broker.log_dir / "planted").symlink_to(outside_file)
    (broker.mnesia / "planted-dir").symlink_to(outside_dir)
    (broker.conf_dir / "rabbitmq.conf").unlink()
    (broker.conf_dir / "rabbitmq.conf").symlink_to(conf_target)
    (broker.home / ".erlang.cookie").unlink()
    (broker.home / ".erlang.cookie").symlink_to(outside_file)
    broker.prepare()
    for p in (outside_file, outside_dir, outside_dir / "inner", conf_target):
        assert os.stat(p).st_uid == 0, f"{p} was handed to rabbitmq"
    assert outside_file.read_text() == "root's" and conf_target.read_text() == "root's config"
    assert os.lstat(broker.log_dir / "planted").st_uid == rabbit.pw_uid  # the link itself, not its target
    # ... and the part's folders let rabbitmq through to its own, and nobody else in.
    part_dir = broker.cookie_file.parent
    assert _mode(part_dir) == 0o710 and os.stat(part_dir).st_gid == rabbit.pw_gid
    assert _mode(broker.cookie_file) == 0o600 and os.stat(broker.cookie_file).st_uid == 0


@root_with_rabbitmq
def test_prepare_as_root_refuses_a_folder_swapped_for_a_link(prepared, tmp_path):
    broker, _ = prepared
    broker.prepare()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(broker.conf_dir)
    broker.conf_dir.symlink_to(elsewhere)
    with pytest.raises(StackError, match="symbolic link"):
        broker.prepare()
    assert list(elsewhere.iterdir()) == [] and os.stat(elsewhere).st_uid == 0


def test_a_fresh_node_joins_node_1_only_once_node_1_has_booted(tmp_path, monkeypatch):
    """The cluster's nodes start together: joining node 1 while it still boots fails (rabbitmqctl join_cluster)."""
    import async_rabbitmq.lab.broker.native as native
    from async_rabbitmq.messaging.nodes import nodes

    s = Settings(run_dir=tmp_path, cluster_size=3)
    first, second = nodes(s)[:2]
    b = NativeBroker(s, node=second)
    booted = {second.nodename}
    joined = []

    def api(path, node=None):
        node = node or b.node
        if node.nodename not in booted:
            return None
        return [{"name": node.nodename}] if path == "nodes" else {}

    monkeypatch.setattr(native, "_listening", lambda port, host="127.0.0.1": True)
    monkeypatch.setattr(b, "_api", api)
    monkeypatch.setattr(b, "join", joined.append)
    assert b.ready() is False and joined == []  # node 1 is still booting: not yet
    booted.add(first.nodename)
    assert b.ready() is False and joined == [first.nodename]  # now it joins; ready once a member


@pytest.fixture
def open_tmp():
    """A folder every user can pass through up to / (pytest's own tmp_path sits in a root-only folder)."""
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp(prefix="native-broker-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@root_with_rabbitmq
def test_a_nested_run_dir_is_reachable_by_the_rabbitmq_user(open_tmp, monkeypatch):
    """RUN_DIR=.run/tests/<x> (the cluster lifecycle test's): the runtime makes the missing parents owner-only
    before the broker prepares, and `.run/tests` then stopped the rabbitmq user on its way to its node's folder,
    so no node could start. Each closed folder between the checkout and the node is passable by that group only."""
    import subprocess

    from async_rabbitmq.lab.broker import native
    from labkit.runtime.safefs import private_dir

    checkout = open_tmp / "checkout"
    checkout.mkdir()
    os.chmod(checkout, 0o755)
    monkeypatch.setattr(native, "ROOT", checkout, raising=False)
    monkeypatch.setattr(native, "ensure_installed", lambda settings: None)
    monkeypatch.setattr(native, "_listening", lambda port, host="127.0.0.1": True)
    s = Settings(run_dir=checkout / ".run" / "tests" / "lifecycle-1", cluster_size=1)
    private_dir(s.run_dir)  # what the runtime's config writer does first (control.Part._write_config)
    broker = NativeBroker(s, node=nodes(s)[0])
    broker.prepare()
    rabbit = pwd.getpwnam("rabbitmq")
    reach = subprocess.run(["setpriv", f"--reuid={rabbit.pw_uid}", f"--regid={rabbit.pw_gid}", "--clear-groups",
                            "test", "-w", str(broker.mnesia)], check=False)
    assert reach.returncode == 0, "the rabbitmq user cannot reach its node's folder"
    for d in (checkout / ".run", checkout / ".run" / "tests", s.run_dir):
        st = os.stat(d)
        assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (rabbit.pw_gid, 0o710), d  # passable, not listable
    assert stat.S_IMODE(os.stat(checkout).st_mode) == 0o755  # the checkout itself is left as it was


def test_clustered_nodes_enable_only_the_brokers_own_feature_flags(tmp_path):
    """A cluster's nodes boot together after a `kill -9` of each: none may have a plugin's flag enabled, which a
    peer still loading its plugins does not know yet. A single node keeps the broker's defaults."""
    from async_rabbitmq.lab.broker.native import CORE_FEATURE_FLAGS

    s = Settings(run_dir=tmp_path, cluster_size=3)
    for node in nodes(s):
        assert NativeBroker(s, node=node).env()["RABBITMQ_FEATURE_FLAGS"].split(",") == list(CORE_FEATURE_FLAGS)
    assert "RABBITMQ_FEATURE_FLAGS" not in NativeBroker(Settings(run_dir=tmp_path)).env()


RABBIT_EBIN = sorted(pathlib.Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/plugins/rabbit-*/ebin"))


@pytest.mark.skipif(not RABBIT_EBIN or not shutil.which("erl"), reason="RabbitMQ is not installed")
def test_the_core_feature_flags_are_every_flag_the_installed_broker_itself_declares():
    """Read from the installed server's own modules (their `rabbit_feature_flag` attributes): a newer broker with
    a flag of its own missing from CORE_FEATURE_FLAGS would leave it disabled on a new cluster."""
    import subprocess

    from async_rabbitmq.lab.broker.native import CORE_FEATURE_FLAGS

    script = ('[Dir] = init:get_plain_arguments(), '
              '[io:format("~s~n", [Name]) || F <- filelib:wildcard(filename:join(Dir, "*.beam")), '
              '{ok, {_, [{attributes, As}]}} <- [beam_lib:chunks(F, [attributes])], '
              '{rabbit_feature_flag, Flags} <- As, {Name, _} <- Flags], halt().')
    out = subprocess.run(["erl", "-noshell", "-eval", script, "-extra", str(RABBIT_EBIN[-1])],
                         capture_output=True, text=True, timeout=60, check=True)
    assert sorted(out.stdout.split()) == sorted(CORE_FEATURE_FLAGS)
