r"""YAML read within bounds: aliases, values and depth counted while the node graph is composed,
before any Python object is built, so a "billion laughs" file is refused in milliseconds (a
settings file, a YOLO ``data.yaml``, a hub dataset card's front matter: every YAML featbus reads).

>>> read_yaml("names: [benign, malignant]")
{'names': ['benign', 'malignant']}
>>> read_yaml("a: &x [1, 2]\nb: *x")
{'a': [1, 2], 'b': [1, 2]}
>>> rows = [f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
>>> bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "\n".join(rows)
>>> read_yaml(bomb)
Traceback (most recent call last):
...
featbus.pipelines._yaml.YAMLRefused: more than 100000 values once its aliases are expanded (line 5, column 4)
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_VALUES", "YAMLRefused", "read_yaml"]

#: The deepest nesting of mappings and lists, aliases expanded (settings need 5).
MAX_DEPTH = 20
#: The most YAML aliases (``*name``) a file may use, all together.
MAX_ALIASES = 100
#: The most values (mappings, lists and scalars) a file may hold once its aliases are expanded.
MAX_VALUES = 100_000


class YAMLRefused(ValueError):
    """A YAML text beyond the bounds (aliases, values once expanded, depth) or with a key given twice."""


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _where(mark) -> str:
    return f" ({_at(mark)})"


@functools.cache
def _bounded_composer() -> type:
    """PyYAML's composer, counting aliases and each node's size and depth with aliases expanded."""
    import yaml
    from yaml.composer import Composer

    class BoundedComposer(Composer):
        def __init__(self):
            super().__init__()
            self._aliases = 0
            self._depth = 0
            self._expanded = {}  # id(node) -> (values, depth) with aliases expanded

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise YAMLRefused(f"more than {MAX_ALIASES} YAML aliases (*name){_where(event.start_mark)}")
                node = super().compose_node(parent, index)
                if id(node) not in self._expanded:
                    raise YAMLRefused(f"the alias *{event.anchor} refers to a value that holds it"
                                        f"{_where(event.start_mark)}")
                return node
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YAMLRefused(f"values nested deeper than {MAX_DEPTH} levels{_where(event.start_mark)}")
            node = super().compose_node(parent, index)
            self._depth -= 1
            if isinstance(node, yaml.ScalarNode):
                children = []
            elif isinstance(node, yaml.SequenceNode):
                children = node.value
            else:
                children = [part for pair in node.value for part in pair]
            sizes = [self._expanded[id(child)] for child in children]
            values = 1 + sum(v for v, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            if values > MAX_VALUES:
                raise YAMLRefused(f"more than {MAX_VALUES} values once its aliases are expanded"
                                    f"{_where(event.start_mark)}")
            if depth > MAX_DEPTH:
                raise YAMLRefused(f"values nested deeper than {MAX_DEPTH} levels once its aliases are "
                                    f"expanded{_where(event.start_mark)}")
            self._expanded[id(node)] = (values, depth)
            return node

    return BoundedComposer


@functools.cache
def _strict_constructor() -> type:
    """``yaml.SafeConstructor`` refusing a mapping key given twice (merge keys ``<<`` excepted)."""
    import yaml
    from yaml.constructor import SafeConstructor

    class StrictConstructor(SafeConstructor):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                first = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: later keys override
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        seen = first.get(key)
                    except TypeError:  # an unhashable key: SafeConstructor says so
                        continue
                    if seen is not None:
                        raise YAMLRefused(f"the key {key!r} is given twice, at {_at(seen)} and at "
                                            f"{_at(key_node.start_mark)}: give each key once")
                    first[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    return StrictConstructor


@functools.cache
def _yaml_loader(pure: bool = False) -> type:
    """A YAML loader for plain data (``yaml.SafeLoader``'s constructor) whose composer counts.

    Aliases are counted, and the size and depth that each node would have once its aliases are
    expanded are computed from its children while the node graph is composed: a node refers to
    its aliased nodes, it does not copy them, so a "billion laughs" file composes in
    milliseconds and is refused before any Python object is built. Duplicate mapping keys are
    refused when the mapping is constructed. libyaml's parser is used when PyYAML has it and not
    ``pure`` (composition stays here: libyaml's own composer recurses without bound on deep
    nesting); ``pure``: PyYAML's pure-Python reader, scanner and parser, which set no depth limit of
    their own, so that featbus's limits are the ones that speak (see :func:`_load`).
    """
    from yaml.resolver import Resolver

    BoundedComposer, StrictConstructor = _bounded_composer(), _strict_constructor()
    try:
        if pure:
            raise ImportError
        from yaml._yaml import CParser
    except ImportError:  # pure, or PyYAML without libyaml: the pure-Python reader, scanner and parser
        from yaml.parser import Parser
        from yaml.reader import Reader
        from yaml.scanner import Scanner

        class Loader(BoundedComposer, Reader, Scanner, Parser, StrictConstructor, Resolver):
            def __init__(self, stream):
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)
                BoundedComposer.__init__(self)
                StrictConstructor.__init__(self)
                Resolver.__init__(self)
    else:
        class Loader(BoundedComposer, CParser, StrictConstructor, Resolver):
            def __init__(self, stream):
                CParser.__init__(self, stream)
                BoundedComposer.__init__(self)
                StrictConstructor.__init__(self)
                Resolver.__init__(self)

    return Loader


def read_yaml(text: str) -> Any:
    """The plain data of a YAML text, read by :func:`_yaml_loader`'s loader.

    libyaml has limits of its own (the libyaml in PyYAML 6.0.4's wheels refuses more than 1000
    levels of flow nesting while it scans ahead, before featbus's composer has seen level
    :data:`MAX_DEPTH` + 1, in its own words): when libyaml refuses a text, the text is read again
    by the pure-Python parser, which has no such limit, so that featbus's own refusal (nesting,
    aliases, values) is the one given, and a text that is simply not YAML gets PyYAML's reason.
    featbus does not rely on any limit of PyYAML's.
    """
    import yaml

    def read(loader_class):
        loader = loader_class(text)
        try:
            return loader.get_single_data()  # plain data only: no Python objects
        finally:
            loader.dispose()

    try:
        return read(_yaml_loader())
    except yaml.YAMLError:
        if not getattr(yaml, "__with_libyaml__", False):  # that was the pure-Python parser: its reason stands
            raise
        return read(_yaml_loader(pure=True))
