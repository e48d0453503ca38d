"""Write client classes for the mapped classes of a ClassDefMapper (docs/codegen.md).

    python -m amfast.codegen --lang as3|ts MODULE:MAPPER -o DIR

MAPPER names a ClassDefMapper in MODULE (a dotted path of attributes), or a function that
takes no arguments and returns one. ActionScript classes are written inside their
``package`` blocks; ``--royale`` uses Apache Royale's class names (BinaryData for
ByteArray).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from amfast.class_def import ClassDefMapper
from amfast.class_def.code_generator import (CodeGenerationError, CodeGenerator,
                                             TypeScriptGenerator)


def load_mapper(spec: str) -> ClassDefMapper:
    """The ClassDefMapper that ``MODULE:MAPPER`` names; ValueError says what is wrong."""
    module_name, sep, path = spec.partition(":")
    if not sep or not module_name or not path:
        raise ValueError(f"expected MODULE:MAPPER, got {spec!r}")
    try:
        found = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    where = module_name
    for name in path.split("."):
        if not hasattr(found, name):
            raise ValueError(f"{spec}: {where} has no attribute {name!r}")
        found = getattr(found, name)
        where += "." + name
    if callable(found) and not isinstance(found, ClassDefMapper):
        found = found()
    if not isinstance(found, ClassDefMapper):
        raise ValueError(f"{spec} is not a ClassDefMapper or a function returning one: "
                         f"got {type(found).__name__}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m amfast.codegen",
        description="Write ActionScript 3 or TypeScript classes for the mapped classes of a "
                    "ClassDefMapper.")
    parser.add_argument("--lang", required=True, choices=("as3", "ts"))
    parser.add_argument("mapper", metavar="MODULE:MAPPER",
                        help="a ClassDefMapper, or a function returning one, in an importable "
                             "module")
    parser.add_argument("-o", "--output", default=".", metavar="DIR",
                        help="the folder of the package tree (default: the current one)")
    as3 = parser.add_argument_group("ActionScript 3")
    as3.add_argument("--royale", action="store_true",
                     help="Apache Royale's class names instead of the Flash Player's")
    as3.add_argument("--bindable", action="store_true", help="add [Bindable]")
    as3.add_argument("--accessors", action="store_true",
                     help="getter/setter pairs instead of public variables")
    as3.add_argument("--constructor", action="store_true", help="add an empty constructor")
    as3.add_argument("--extends", metavar="CLASS", help="a base class for every class")
    as3.add_argument("--implements", metavar="INTERFACE", action="append",
                     help="an interface every class implements (repeatable)")
    args = parser.parse_args(argv)
    as3_only = [f"--{name}" for name in ("royale", "bindable", "accessors", "constructor",
                                          "extends", "implements") if getattr(args, name)]
    if args.lang == "ts" and as3_only:
        parser.error(f"{', '.join(as3_only)}: ActionScript options, not for --lang ts")
    try:
        mapper = load_mapper(args.mapper)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.lang == "as3":
            generator = CodeGenerator(types=CodeGenerator.ROYALE_TYPES if args.royale else None)
            paths = generator.generateFilesFromMapper(
                mapper, args.output, use_accessors=args.accessors, packaged=True,
                constructor=args.constructor, bindable=args.bindable, extends=args.extends,
                implements=args.implements)
        else:
            paths = TypeScriptGenerator().generateFilesFromMapper(mapper, args.output)
    except (CodeGenerationError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
