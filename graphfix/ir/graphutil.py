"""Small graph helpers shared by loading, analysis and editing."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import onnx_ir as ir


class CycleError(Exception):
    def __init__(self, node: ir.Node) -> None:
        super().__init__(node_label(node))
        self.node = node


def node_label(node: ir.Node) -> str:
    """A name for a node in messages: its name, or its op and first output when it has none."""
    if node.name:
        return node.name
    first = node.outputs[0].name if node.outputs else "?"
    return f"{node.op_type}({first})"


def downstream(node: ir.Node) -> Iterator[ir.Node]:
    """``node`` and every node its outputs feed, transitively, each once (depth first)."""
    seen: set[ir.Node] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        stack.extend(user for output in current.outputs for user, _ in output.uses())


def upstream(values: Iterator[ir.Value | None] | list[ir.Value | None]) -> Iterator[ir.Node]:
    """Every node that computes one of ``values``, transitively through its inputs, each once."""
    seen: set[ir.Node] = set()
    stack = [v for v in values if v is not None]
    while stack:
        producer = stack.pop().producer()
        if producer is None or producer in seen:
            continue
        seen.add(producer)
        yield producer
        stack.extend(v for v in producer.inputs if v is not None)


def topological_order(graph: ir.Graph) -> list[ir.Node]:
    """The graph's nodes, producers before consumers (stable where the file already is sorted)."""
    nodes = list(graph)
    if _is_sorted(nodes):
        return nodes
    position = {node: index for index, node in enumerate(nodes)}
    indegree = dict.fromkeys(nodes, 0)
    consumers: dict[ir.Node, list[ir.Node]] = {node: [] for node in nodes}
    for node in nodes:
        producers = {v.producer() for v in node.inputs if v is not None}
        for producer in producers:
            if producer is not None and producer in position:
                indegree[node] += 1
                consumers[producer].append(node)
    ready = [(position[node], node) for node, count in indegree.items() if count == 0]
    heapq.heapify(ready)
    order: list[ir.Node] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for consumer in consumers[node]:
            indegree[consumer] -= 1
            if indegree[consumer] == 0:
                heapq.heappush(ready, (position[consumer], consumer))
    if len(order) != len(nodes):
        raise CycleError(next(node for node, count in indegree.items() if count > 0))
    return order


def _is_sorted(nodes: list[ir.Node]) -> bool:
    seen: set[ir.Node] = set()
    for node in nodes:
        for value in node.inputs:
            producer = value.producer() if value is not None else None
            if producer is not None and producer not in seen and producer.graph is node.graph:
                return False
        seen.add(node)
    return True
