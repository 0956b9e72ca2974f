"""The DAG as text, Graphviz DOT, or Mermaid."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a cached plan renders its Mermaid graph without loading the spec models
    from compiler.graph import Graph


def render_graph_text(graph: Graph) -> str:
    lines = []
    for node in graph.nodes.values():
        lines.append(node.id + (f"  <- {', '.join(node.inputs)}" if node.inputs else ""))
    return "\n".join(lines)


def render_dot(graph: Graph) -> str:
    shapes = {"prepare": "cylinder", "prompt": "note", "import": "box3d", "finetune": "box3d",
              "evaluate": "box", "gate": "diamond", "deploy": "component"}
    lines = ["digraph llmops {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in graph.nodes.values():
        lines.append(f'  "{node.id}" [shape={shapes[node.step]}];')
    for node in graph.nodes.values():
        for dep in node.inputs:
            lines.append(f'  "{dep}" -> "{node.id}";')
    lines.append("}")
    return "\n".join(lines)


def render_mermaid(graph: Graph, classes: dict[str, str] | None = None) -> str:
    """Mermaid flowchart; ``classes`` maps node ids to a class (e.g. a plan action) for styling."""
    ids = {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}
    shapes = {"prepare": ("[(", ")]"), "prompt": ("[/", "/]"), "gate": ("{", "}"), "deploy": ("[[", "]]")}
    lines = ["flowchart LR"]
    for nid, node in graph.nodes.items():
        left, right = shapes.get(node.step, ("[", "]"))
        label = nid.replace('"', "#quot;").replace("\n", " ")
        lines.append(f'  {ids[nid]}{left}"{label}"{right}')
    for nid, node in graph.nodes.items():
        for dep in node.inputs:
            if dep in ids:
                lines.append(f"  {ids[dep]} --> {ids[nid]}")
    if classes:
        palette = {"create": "fill:#d4f7d4", "update": "fill:#fff2b3", "delete": "fill:#f7d4d4"}
        for name, fill in palette.items():
            lines.append(f"  classDef {name} {fill}")
        for nid, cls in classes.items():
            if nid in ids and cls in palette:
                lines.append(f"  class {ids[nid]} {cls}")
    return "\n".join(lines)
