"""The layer rules of docs/architecture.md hold, and the checks that guard them can fail.

* import-linter contracts (pyproject ``[tool.importlinter]``, run by scripts/test.sh) are kept
  on this tree and broken by a forbidden import in a copy of it.
* No project import sits inside a function body (the way a cycle gets dodged), except the lazy
  command imports of the CLI, which are the design (``fleetwatch check`` loads no aiohttp).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "collector", "probes")
CHECKED_FOR_LAZY_IMPORTS = (*PACKAGES, "tests")  # bench/ chooses modules per experiment
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (file, function) -> why a project module is imported inside it. Nothing else may be.
LAZY_IMPORTS_ALLOWED = {
    ("collector/cli/__init__.py", "build_parser"):
        "imports only the module of the command being run (importlib.import_module)",
    ("agent/cli.py", "main"):
        "--print-schema alone loads agent.schema (pydantic): the running agent never does, "
        "for its memory budget (docs/agent.md)",
}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract() -> None:
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
    assert proc.stdout.count(" KEPT") == 4


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("probes/_forbidden.py", "import collector.config",
     "probes imports nothing of collector or agent BROKEN"),
    ("agent/_forbidden.py", "from collector.state import StateCache",
     "agent imports nothing of collector BROKEN"),
    ("collector/faults/_forbidden.py", "import collector.web.shell",
     "domain packages import neither collector.web nor collector.cli BROKEN"),
    ("collector/config/_forbidden.py", "from collector.keys import CONFIG",
     "collector layers: cli > demo > app > pages > keys > domain > config > schema BROKEN"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                 contract: str) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint_imports(tmp_path).returncode == 0  # the copy is clean before the import
    (tmp_path / module).write_text(f'"""A forbidden import."""\n{line}\n')
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert contract in proc.stdout, proc.stdout
    assert module.removesuffix(".py").replace("/", ".") in proc.stdout


def project_imports_in_functions(path: Path) -> list[tuple[int, str, str]]:
    """(line, function, module) for each project import inside a function body of ``path``:
    ``import``/``from`` statements and ``importlib.import_module``/``__import__`` calls."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = ["." * node.level + (node.module or "")]
            elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
                modules = ["<dynamic import>"]
            else:
                continue
            for module in modules:
                if module == "<dynamic import>" or module.startswith(".") \
                        or module.split(".")[0] in CHECKED_FOR_LAZY_IMPORTS:
                    found.append((node.lineno, func.name, module))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def test_no_project_import_inside_a_function_body() -> None:
    offenders = []
    used = set()
    for package in CHECKED_FOR_LAZY_IMPORTS:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, func, module in project_imports_in_functions(path):
                if (rel, func) in LAZY_IMPORTS_ALLOWED:
                    used.add((rel, func))
                else:
                    offenders.append(f"{rel}:{line}: {func} imports {module}")
    assert offenders == [], "move these imports to the top of the module (fix the cycle):\n" \
        + "\n".join(offenders)
    assert used == set(LAZY_IMPORTS_ALLOWED), "stale allow-list entries"


def test_the_function_body_check_sees_imports(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import collector\n"
                    "def f():\n    from collector.faults import engine\n"
                    "async def g():\n    import probes.snmp, json\n"
                    "def h():\n    from . import sibling\n"
                    "def i():\n    import json\n"
                    "def j(name):\n    return importlib.import_module(name)\n")
    assert project_imports_in_functions(path) == [
        (3, "f", "collector.faults"), (5, "g", "probes.snmp"), (7, "h", "."),
        (11, "j", "<dynamic import>")]
