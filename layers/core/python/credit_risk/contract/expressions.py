"""A small, safe evaluator for the contract's derived-feature expressions.

``expr: loan_amount / annual_income`` in a contract is arithmetic over column names and
numbers. ETL evaluates it over a whole frame with pandas; the API evaluates it for one
application without pandas, through this module. To give the same numbers bit for bit,
it follows numpy's float64 rules rather than Python's: division by zero gives ``inf`` or
``nan`` instead of raising, and ``**``, ``//`` and ``%`` are computed by numpy itself
(its vectorised ``power`` can differ from ``math.pow`` in the last bit).

Only numbers, names, parentheses, unary ``+``/``-`` and ``+ - * / ** // %`` are allowed;
anything else (calls, attributes, subscripts, comparisons) is refused when the expression
is compiled, so a contract cannot run code.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from credit_risk.errors import ContractError

Environment = Mapping[str, float]
_Node = Callable[[Environment], float]

_NAN = math.nan
_INF = math.inf
_MAX_LENGTH = 2000


def _divide(a: float, b: float) -> float:
    """IEEE 754 division, as numpy does it: x/0 is ±inf, 0/0 and nan/0 are nan."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0.0 or a != a:
            return _NAN
        return math.copysign(_INF, a) * math.copysign(1.0, b)


def _numpy_op(ufunc: np.ufunc) -> Callable[[float, float], float]:
    def apply(a: float, b: float) -> float:
        with np.errstate(all="ignore"):
            return float(ufunc(np.array([a]), b)[0])

    return apply


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _divide,
    ast.Pow: _numpy_op(np.power),
    ast.FloorDiv: _numpy_op(np.floor_divide),
    ast.Mod: _numpy_op(np.remainder),
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


ArrayEnvironment = Mapping[str, "np.ndarray | float"]
_ArrayNode = Callable[[ArrayEnvironment], "np.ndarray | float"]

# The same operators over float64 arrays (numpy's rules, which the scalar ones follow).
_ARRAY_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.remainder,
}
_ARRAY_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: np.negative,
    ast.UAdd: np.positive,
}


@dataclass(frozen=True)
class Expression:
    """A compiled expression: call it with a mapping of column name to float, or
    :meth:`over_arrays` with one of column name to float64 array (or float)."""

    text: str
    names: frozenset[str]
    _evaluate: _Node
    _evaluate_arrays: _ArrayNode

    def __call__(self, env: Environment) -> float:
        """The value for one row; a name missing from ``env`` is ``nan``."""
        return self._evaluate(env)

    def over_arrays(self, env: ArrayEnvironment, n: int) -> np.ndarray:
        """The values for ``n`` rows given column-wise (a float stands for a column of
        that value; a missing name is ``nan``), each equal to the one-row value."""
        with np.errstate(all="ignore"):
            values = self._evaluate_arrays(env)
        return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()


def _refuse(expr: str, node: ast.AST) -> ContractError:
    what = type(node).__name__
    return ContractError(
        f"expression '{expr}': {what} is not allowed; use numbers, column names, "
        "parentheses and + - * / ** // %",
        expression=expr,
    )


def _compile_node(node: ast.AST, expr: str, names: set[str]) -> _Node:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(expr, node)
        number = float(value)
        return lambda env: number
    if isinstance(node, ast.Name):
        name = node.id
        names.add(name)
        return lambda env: env.get(name, _NAN)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        unary = _UNARY[type(node.op)]
        operand = _compile_node(node.operand, expr, names)
        return lambda env: unary(operand(env))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        binary = _BINARY[type(node.op)]
        left = _compile_node(node.left, expr, names)
        right = _compile_node(node.right, expr, names)
        return lambda env: binary(left(env), right(env))
    raise _refuse(expr, node)


def _compile_array_node(node: ast.AST) -> _ArrayNode:
    """:func:`_compile_node` over arrays (the node was checked when that compiled it)."""
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        number = float(node.value)
        return lambda env: number
    if isinstance(node, ast.Name):
        name = node.id
        return lambda env: env.get(name, _NAN)
    if isinstance(node, ast.UnaryOp):
        unary = _ARRAY_UNARY[type(node.op)]
        operand = _compile_array_node(node.operand)
        return lambda env: unary(operand(env))
    assert isinstance(node, ast.BinOp)
    binary = _ARRAY_BINARY[type(node.op)]
    left, right = _compile_array_node(node.left), _compile_array_node(node.right)
    return lambda env: binary(np.asarray(left(env), np.float64), right(env))


@lru_cache(maxsize=256)
def compile_expression(expr: str) -> Expression:
    """Compile ``expr`` once; :class:`ContractError` when it is not plain arithmetic."""
    if len(expr) > _MAX_LENGTH:
        raise ContractError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ContractError(f"expression '{expr}' is not valid: {exc.msg}") from exc
    names: set[str] = set()
    evaluate = _compile_node(tree.body, expr, names)
    return Expression(expr, frozenset(names), evaluate, _compile_array_node(tree.body))
