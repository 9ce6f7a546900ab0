"""`make check` keeps its three gates, and its type checker sees every service and all the project code they import."""
import ast
import re
import tomllib

import pytest

from common.settings import ROOT

pytestmark = pytest.mark.unit
PARTS = {"sync-rest": "sync_rest", "async-rabbitmq": "async_rabbitmq", "streaming-kafka": "streaming_kafka"}
ROOTS = [ROOT, *(ROOT / part for part in PARTS)]  # where the project's top-level packages live
OWN = {"common", *PARTS.values()}
MYPY_FILES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]


def recipe(target: str) -> list[str]:
    """The command lines of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    body = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert body, f"the Makefile has no {target} target"
    return [line.strip().lstrip("@") for line in body.group(1).splitlines()]


def test_make_check_runs_the_linter_the_type_checker_and_the_fast_rings():
    lines = recipe("check")
    assert any("-m ruff check ." in line for line in lines)
    assert any(re.search(r"-m mypy( |$)", line) for line in lines)
    rings = [line for line in lines if "-m pytest" in line]
    assert rings and '-m "unit or service"' in rings[0]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.PHONY:[^\n]* check ", makefile, re.M) and "make check " in makefile


def service_packages() -> list[str]:
    """Each part's services: the subpackages with an `app.py` (a service's HTTP app), as paths from the root."""
    return sorted(str(app.parent.relative_to(ROOT)) for part, pkg in PARTS.items()
                  for app in (ROOT / part / pkg).glob("*/app.py"))


def module_file(name: str):
    for base in ROOTS:
        for path in (base / name.replace(".", "/")).with_suffix(".py"), base / name.replace(".", "/") / "__init__.py":
            if path.is_file():
                return path
    return None


def imported(path) -> set:
    """The project's modules a file imports (anywhere in it, lazily imported ones included), as files."""
    base_dir = next((b for b in ROOTS[1:] if b in path.parents), ROOT)
    package = list(path.parent.relative_to(base_dir).parts)  # what a relative import starts from
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(package[:len(package) - node.level + 1] + ([module] if module else []))
            # `from pkg import mod` imports the submodule when there is one, else a name of pkg
            names |= {f"{module}.{a.name}" if module_file(f"{module}.{a.name}") else module for a in node.names}
    return {f for n in names if n.split(".")[0] in OWN and (f := module_file(n)) is not None}


def covered(path) -> bool:
    return any(path == (entry := ROOT / f) or entry in path.parents for f in MYPY_FILES)


def test_the_service_packages_are_found():
    found = service_packages()
    assert len(found) == 12 and "sync-rest/sync_rest/order_service" in found  # three services and a dashboard per part


def test_every_listed_path_exists():
    assert [f for f in MYPY_FILES if not (ROOT / f).exists()] == []


def test_mypy_checks_every_service_and_all_the_project_code_it_imports():
    todo = [p for pkg in service_packages() for p in (ROOT / pkg).rglob("*.py")]
    assert all(covered(p) for p in todo), [str(p) for p in todo if not covered(p)]
    seen = set(todo)
    while todo:
        for dep in imported(todo.pop()) - seen:
            seen.add(dep)
            todo.append(dep)
    missing = sorted(str(p.relative_to(ROOT)) for p in seen if not covered(p))
    assert missing == [], f"add them to [tool.mypy] files in pyproject.toml: {missing}"
