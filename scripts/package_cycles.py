"""Package-level import graph of ``rnnmod`` and its cycles (strongly connected components larger
than one package), from the source with ``grimp`` (import-linter's graph builder): every import,
function-level ones included. Exit 1 when there is a cycle."""

from __future__ import annotations

import sys

import grimp


def package_graph(root: str = "rnnmod") -> dict[str, set[str]]:
    graph = grimp.build_graph(root)
    top = {m: m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    edges: dict[str, set[str]] = {p: set() for p in top.values()}
    for m, p in top.items():
        for dep in graph.find_modules_directly_imported_by(m):
            q = top.get(dep)
            if q is not None and q != p:
                edges[p].add(q)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one package."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    found = cycles(package_graph())
    print(f"{len(found)} package cycle(s)" + "".join(f"\n  {' ↔ '.join(c)}" for c in found))
    sys.exit(1 if found else 0)
