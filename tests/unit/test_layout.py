"""The layout rules of CONTRIBUTING.md, checked on the source: sizes, and who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "taskstream"
MODULE_MAX_LINES = 400
FUNCTION_MAX_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _name(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def test_no_module_is_over_400_lines() -> None:
    long = {_name(p): n for p in _modules() if (n := len(p.read_text().splitlines())) > MODULE_MAX_LINES}
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                if (size := node.end_lineno - first + 1) > FUNCTION_MAX_LINES:
                    long[f"{_name(path)}:{node.lineno} {node.name}"] = size
    assert long == {}


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        bad = sorted(m for m in _imports(path) if m.startswith(forbidden))
        if bad:
            found[_name(path)] = bad
    return found


def test_the_domain_imports_no_framework_driver_or_store() -> None:
    forbidden = (
        "sqlalchemy",
        "fastapi",
        "starlette",
        "pydantic",
        "aiokafka",
        "httpx",
        "taskstream.store",
        "taskstream.features",
        "taskstream.api",
        "taskstream.messaging",
        "taskstream.transports",
    )
    assert _violations(sorted((SRC / "domain").rglob("*.py")), forbidden) == {}


def test_routes_import_nothing_from_the_store_or_sqlalchemy() -> None:
    routes = [p for p in _modules() if p.name in ("routes.py", "health.py") and p.parent.name != "taskstream"]
    assert _violations(routes, ("sqlalchemy", "taskstream.store")) == {}
    reach = {_name(p): sorted(m for m in _imports(p) if m.rsplit(".", 1)[-1] in ("repository", "mapping"))
             for p in routes}  # fmt: skip
    assert {name: found for name, found in reach.items() if found} == {}  # only use cases and schemas


def test_messaging_knows_no_transport_and_no_feature() -> None:
    paths = sorted((SRC / "messaging").rglob("*.py"))
    assert _violations(paths, ("taskstream.transports", "taskstream.features", "aiokafka")) == {}
