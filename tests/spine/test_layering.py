"""The packages read as a flow without loops: no import cycle among the production modules, counting the
imports inside functions too (a cycle hidden in a function is still a cycle: each side needs the other)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("resilience", "ingest", "alerts")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {r for a in node.names if (r := resolve(a.name))}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names}
                if subs <= set(modules):  # `from package import submodule`: the submodules only
                    deps |= subs
                elif r := resolve(node.module):
                    deps.add(r)
        deps.discard(name)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    graph = _graph(_modules())
    assert len(graph) > 50
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The stages, by module prefix (the longest prefix wins), and whom each may import besides itself. The
# folders read as the data flow: the core vocabulary below everything, the store below the stages, the
# stages (ingest, detection, risk, alerts) beside each other without importing each other, the workers and
# the API above them, and one wiring module per process (``resilience/runtime``) above all. Tools that
# production does not run may use anything but the wiring; nothing in production imports a tool.
STAGES: dict[str, tuple[str, ...]] = {
    "core": ("resilience.core", "resilience"),
    "store": ("resilience.store", "alerts.store", "resilience.risk.store"),
    "ops": (
        "resilience.ops",
        "resilience.cli.keys",
        "resilience.metrics",  # the platform reporting on itself (Prometheus)
    ),
    "ingest": ("ingest",),
    "detection": ("resilience.detection",),
    "risk": ("resilience.risk",),
    "alerts": ("alerts",),
    "workers": ("resilience.workers",),
    "api": ("resilience.api", "resilience.console"),
    "runtime": ("resilience.runtime", "resilience.cli.commands", "resilience.cli"),
    # the offline CSV scorer (`resilience detect`) is a tool too: it offers the NAB benchmark's detector
    "tools": (
        "resilience.simulator",
        "resilience.bench",
        "resilience.cli.backtest",
        "resilience.detection.cli",
        "resilience.detection.csv_models",
    ),
}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core", "alerts", "risk"},  # the alert and risk stores read and write those stages' own types
    "ops": {"core", "store"},
    "ingest": {"core", "store", "ops"},
    "detection": {"core", "store"},
    "risk": {"core"},
    "alerts": {"core", "store", "ops"},
    "workers": {"core", "store", "ops", "detection", "risk"},
    "api": {"core", "store", "ops", "ingest", "alerts", "risk"},
    "runtime": {"core", "store", "ops", "ingest", "detection", "risk", "alerts", "workers", "api", "tools"},
    "tools": {"core", "store", "ops", "ingest", "detection", "risk", "alerts", "workers", "api"},
}


def stage_of(module: str) -> str:
    best, length = "", -1
    for stage, prefixes in STAGES.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > length:
                best, length = stage, len(p)
    assert best, f"{module} belongs to no stage: add it to STAGES"
    return best


def test_each_stage_imports_only_what_is_below_it() -> None:
    wrong = sorted(
        f"{m} ({stage_of(m)}) imports {d} ({stage_of(d)})"
        for m, deps in _graph(_modules()).items()
        for d in deps
        if stage_of(d) != stage_of(m) and stage_of(d) not in ALLOWED[stage_of(m)]
    )
    assert wrong == []


def test_the_stage_rule_catches_a_sideways_import() -> None:
    assert stage_of("resilience.detection.scoring") == "detection" and stage_of("resilience.risk.store") == "store"
    assert "alerts" not in ALLOWED["ingest"] and "runtime" not in ALLOWED["tools"]
    assert stage_of("resilience.detection.csv_models") == "tools" and "tools" not in ALLOWED["detection"]
