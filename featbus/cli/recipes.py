"""``featbus recipes``: the named training recipes."""

from __future__ import annotations

from ..pipelines.recipes import describe_recipes

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("recipes", parents=[parents.base],
                       help="list the named training recipes (featbus train --recipe NAME)",
                       description="Each recipe: what it trains, its expected time on the 625 BUSI images "
                                   "(2 CPU cores; a GPU) and its duplicate-grouped CV figure from "
                                   "benchmarks/recipes.py.")
    p.set_defaults(func=run)


def run(args) -> int:
    print(describe_recipes())
    return 0
