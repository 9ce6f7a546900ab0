"""The services stand apart from the lab that drives them, and these checks keep it so (no process, no network):

- a service module (the kernel `common/`, and each part's package outside its `lab/`) never imports the lab kit
  (`labkit`), a part's `lab`, or `comparison`, and imports no third-party package the services do not depend on;
- the service lock (`requirements-service.lock`) carries none of the lab's own dependencies (pyproject's `dev`);
- the service image's build context (the repository root through `.dockerignore`) holds the services and nothing of
  the lab, and every project import of what it holds resolves inside it.
"""
from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from common.settings import ROOT

pytestmark = pytest.mark.unit
PARTS = {"sync-rest": "sync_rest", "async-rabbitmq": "async_rabbitmq", "streaming-kafka": "streaming_kafka"}
LAB_PACKAGES = ("labkit", "comparison", *(f"{pkg}.lab" for pkg in PARTS.values()))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def module_name(rel: str) -> str | None:
    """`streaming-kafka/streaming_kafka/lag.py` -> `streaming_kafka.lag`; None for a file outside the packages."""
    parts = Path(rel).with_suffix("").parts
    if parts[0] in PARTS:
        parts = parts[1:]
    if not parts or parts[0] not in {"common", "labkit", "comparison", *PARTS.values()} or "tests" in parts:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def service_modules() -> dict[str, Path]:
    """Every service module by name: `common`'s, and each part's package's outside its `lab` subpackage."""
    found = {}
    for rel in tracked():
        name = rel.endswith(".py") and module_name(rel)
        if name and not name.startswith(LAB_PACKAGES) and name.split(".")[0] in {"common", *PARTS.values()}:
            found[name] = ROOT / rel
    return found


def imports(name: str, path: Path) -> set[str]:
    """The modules a file imports, anywhere in it (lazy imports included); relative imports resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}  # `from pkg import mod`
    return found


def test_the_service_modules_are_found():
    names = service_modules()
    assert {"common.settings", "sync_rest.order_service.app", "async_rabbitmq.messaging.topology",
            "streaming_kafka.analytics_consumer.replay"} <= set(names)
    assert not [n for n in names if n.startswith(LAB_PACKAGES)]


def test_no_service_module_imports_the_lab():
    wrong = {name: sorted(m for m in imports(name, path) if m == "labkit" or m.startswith(LAB_PACKAGES))
             for name, path in service_modules().items()}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_import_check_sees_lazy_and_relative_imports(tmp_path):
    sample = tmp_path / "app.py"
    sample.write_text("def f():\n    from labkit.stack import wait_for\nfrom ..lab import client\n")
    found = imports("sync_rest.order_service.app", sample)
    assert "labkit.stack" in found and "sync_rest.lab.client" in found


def requirement_names(lines) -> set[str]:
    """Normalized distribution names of requirement specifiers (`Foo_Bar==1.0 ; extra` -> `foo-bar`)."""
    return {re.sub(r"[-_.]+", "-", m.group(1)).lower() for line in lines
            if (m := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line))}


def service_lock() -> set[str]:
    text = (ROOT / "requirements-service.lock").read_text()
    return requirement_names(line for line in text.splitlines() if line and line[0] not in " #-\\")


def test_the_service_lock_carries_none_of_the_lab_dependencies():
    service = requirement_names(PYPROJECT["project"]["dependencies"])
    lab_only = requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"]) - service
    assert lab_only and service <= service_lock()
    assert sorted(lab_only & service_lock()) == []


@cache
def distributions() -> dict[str, set[str]]:
    """Top-level import name -> the normalized names of the installed distributions that provide it."""
    return {top: requirement_names(dists) for top, dists in importlib.metadata.packages_distributions().items()}


def test_service_modules_import_only_what_the_service_lock_installs():
    locked = service_lock()
    own = {"common", "labkit", "comparison", *PARTS.values()}
    wrong = {}
    for name, path in service_modules().items():
        for module in imports(name, path):
            top = module.split(".")[0]
            if not top or top in own or top in sys.stdlib_module_names or top == "__future__":
                continue
            dists = distributions().get(top, set())
            if not dists & locked:
                wrong.setdefault(name, set()).add(top)
    assert wrong == {}, "imported but not in requirements-service.lock"


# ------------------------------------------------------------------------------------------ the service image
def dockerignore_regexes() -> list[tuple[bool, re.Pattern]]:
    """(.dockerignore's patterns in order: (excludes, regex)); Docker's rules: `*` within a path segment,
    `**` across segments, a pattern that matches a folder covers everything under it, `!` re-includes."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((not include, re.compile(regex + r"(?:/.*)?")))
    return rules


def in_context(rel: str, rules) -> bool:
    excluded = False
    for excludes, regex in rules:
        if regex.fullmatch(rel):
            excluded = excludes
    return not excluded


def service_context() -> list[str]:
    """The repository's files that `COPY . /app` puts in the service image."""
    rules = dockerignore_regexes()
    return [f for f in tracked() if in_context(f, rules)]


def test_the_dockerignore_reading_follows_dockers_rules():
    rules = [(True, re.compile(r"[^/]*/[^/]*/lab(?:/.*)?")), (False, re.compile(r"x/y/lab/keep(?:/.*)?"))]
    assert not in_context("sync-rest/sync_rest/lab/stack.py", rules)
    assert in_context("sync-rest/sync_rest/order_service/app.py", rules)
    assert in_context("x/y/lab/keep/a.py", rules)


def test_the_dockerfile_copies_only_the_service_lock_and_the_filtered_context():
    copies = re.findall(r"^\s*COPY\s+(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    sources = [c.split()[:-1] for c in copies]
    assert sources == [["requirements-service.lock"], ["."]], copies
    assert "requirements-service.lock" in (ROOT / "Dockerfile").read_text()


def test_the_service_image_holds_the_services_and_nothing_of_the_lab():
    context = service_context()
    lab = [f for f in context if f.startswith(("labkit/", "comparison/", "scripts/", "docs/"))
           or "/tests/" in f or f.startswith("tests/")
           or any(f.startswith(f"{part}/{pkg}/lab/") for part, pkg in PARTS.items())]
    assert lab == []
    python = {module_name(f) for f in context if f.endswith(".py")} - {None}
    assert python == set(service_modules())  # every service module, and no other Python of the project
    assert "docker/analytics/run-as-metrics-owner.sh" in context  # the analytics consumer's command


def test_what_the_service_image_holds_imports_only_what_it_holds():
    held = {module_name(f) for f in service_context() if f.endswith(".py")} - {None}
    own = {"common", "labkit", "comparison", *PARTS.values()}
    missing = {}
    for name, path in service_modules().items():
        for module in imports(name, path):
            if module.split(".")[0] in own and module not in held:
                parent = module.rsplit(".", 1)[0]
                if parent not in held:  # `from pkg import name`: a name of a held module is fine
                    missing.setdefault(name, set()).add(module)
    assert missing == {}


# ------------------------------------------------------------------------------------------ one wiring rule
def calls_outside_runners(path: Path, function: str, runners: set[str]) -> list[int]:
    """Lines where `function(...)` is called other than inside a function named in `runners`."""
    lines = []

    def visit(node, inside: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, inside or child.name in runners)
            else:
                if (isinstance(child, ast.Call) and getattr(child.func, "id", getattr(child.func, "attr", None)) == function
                        and not inside):
                    lines.append(child.lineno)
                visit(child, inside)
    visit(ast.parse(path.read_text()), False)
    return lines


def test_logging_is_configured_by_the_runners_only():
    """`setup_logging` runs in a service's `main` (python -m) or in `common.process` (serve, gunicorn's wsgi),
    never in `create_app` or `build`, so an app built in a test configures nothing."""
    wrong = {name: lines for name, path in service_modules().items() if name != "common.process"
             and (lines := calls_outside_runners(path, "setup_logging", {"main"}))}
    assert wrong == {}


# Commands that run once and exit (with a one-line reason when the broker is away), not services: run as scripts.
ONE_SHOT_COMMANDS = {"streaming_kafka.analytics_consumer.replay"}  # `make replay`


def test_every_service_main_has_one_shape():
    """Each `python -m <service>` (each part's dashboard too) is `sys.exit(main())` over its app module's `main`,
    and no service module is run as a script any other way (an `if __name__ == "__main__"` block); none
    hand-writes a gunicorn command line (`common.process.gunicorn_argv` is the one)."""
    mains = {name: path for name, path in service_modules().items() if name.endswith(".__main__")}
    assert len(mains) >= 5
    assert {f"{pkg}.dashboard.__main__" for pkg in PARTS.values()} <= set(mains)
    for name, path in mains.items():
        package = name.removesuffix(".__main__")
        expected = f"import sys\n\nfrom {package}.app import main\n\nsys.exit(main())\n"
        assert path.read_text() == expected, name
    scripts = [name for name, path in service_modules().items() if any(
        isinstance(n, ast.Compare) and getattr(n.left, "id", None) == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in n.comparators)
        for n in ast.walk(ast.parse(path.read_text())))]
    assert set(scripts) == ONE_SHOT_COMMANDS
    hand_written = [name for name, path in service_modules().items() if name != "common.process"
                    and any(isinstance(n, ast.Constant) and n.value == "gunicorn" for n in ast.walk(ast.parse(path.read_text())))]
    assert hand_written == []


def test_create_app_takes_its_collaborators_ready_made():
    """`build(settings)` is the one place that constructs a service's collaborators: `create_app` has no default
    settings, reads none, and builds nothing as a fallback (`x or Store(...)`)."""
    wrong = {}
    for name, path in service_modules().items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "create_app"):
                continue
            defaulted = [a.arg for a in fn.args.args[len(fn.args.args) - len(fn.args.defaults):]]
            problems = [f"{a} has a default" for a in defaulted if a == "settings"]
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "get_settings":
                    problems.append("calls get_settings")
                if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and isinstance(node.values[-1], ast.Call):
                    problems.append(f"builds a fallback on line {node.lineno}")
            if problems:
                wrong[name] = problems
    assert len([n for n in service_modules() if n.endswith(".app")]) == 13
    assert wrong == {}


def test_no_service_module_keeps_a_global_list():
    """A gunicorn worker's background workers hang off its app (`common.process.wsgi`), not off a module: no service
    module starts with an empty list to fill at run time (the gunicorn master's own scratch folder aside)."""
    allowed = {("common.gunicorn_conf", "_made")}
    found = set()
    for name, path in service_modules().items():
        for node in ast.parse(path.read_text()).body:
            target, value = ((node.target, node.value) if isinstance(node, ast.AnnAssign) else
                             (node.targets[0], node.value) if isinstance(node, ast.Assign) else (None, None))
            if isinstance(value, ast.List) and not value.elts and isinstance(target, ast.Name):
                found.add((name, target.id))
    assert found - allowed == set()
