"""SQL functions whose spelling differs between SQLite and MySQL.

Used by the usage dashboards so that aggregation happens in the database on
both backends, instead of loading rows into Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Date, Float


class week_start(FunctionElement):
    """The Monday (as a date) of the ISO week containing a timestamp."""

    type = Date()
    inherit_cache = True


class seconds_between(FunctionElement):
    """`later - earlier` in seconds (float)."""

    type = Float()
    inherit_cache = True


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"date({compiler.process(value, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "mysql")
def _week_start_mysql(element: week_start, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    sql = compiler.process(value, **kw)
    return f"DATE(DATE_SUB({sql}, INTERVAL WEEKDAY({sql}) DAY))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "mysql")
def _seconds_between_mysql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {earlier}, {later}) / 1000000.0)"
