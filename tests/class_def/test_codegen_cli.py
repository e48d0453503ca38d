"""python -m amfast.codegen --lang as3|ts MODULE:MAPPER -o DIR."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from amfast import codegen

MODULE = textwrap.dedent('''
    from amfast.class_def import ClassDef, ClassDefMapper

    class Item:
        name: str
        price: float

    class Broken:
        pass

    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Item, "shop.Item", ("name", "price")))

    def build():
        return mapper

    class Holder:
        mapper = mapper

    bad_mapper = ClassDefMapper()
    bad_mapper.mapClass(ClassDef(Broken, "shop.bad-name", ()))
    not_a_mapper = 42
''')


@pytest.fixture
def shop(tmp_path, monkeypatch):
    package = tmp_path / "src"
    package.mkdir()
    (package / "codegen_shop.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(package))
    sys.modules.pop("codegen_shop", None)
    yield tmp_path / "out"
    sys.modules.pop("codegen_shop", None)


@pytest.mark.parametrize("spec", ["codegen_shop:mapper", "codegen_shop:build",
                                  "codegen_shop:Holder.mapper"])
def test_writes_actionscript_from_a_mapper_a_function_or_an_attribute_path(shop, spec, capsys):
    assert codegen.main(["--lang", "as3", spec, "-o", str(shop)]) == 0
    written = shop / "shop" / "Item.as"
    assert capsys.readouterr().out == f"{written}\n"
    text = written.read_text()
    assert "package shop\n{\n" in text and "\t\tpublic var price:Number;\n" in text


def test_actionscript_options(shop):
    assert codegen.main(["--lang", "as3", "--royale", "--bindable", "--accessors",
                         "--constructor", "--extends", "base.Entity", "--implements", "IA",
                         "--implements", "IB", "codegen_shop:mapper", "-o", str(shop)]) == 0
    text = (shop / "shop" / "Item.as").read_text()
    for line in ("\t[Bindable]\n", "\tpublic class Item extends Entity implements IA, IB\n",
                 "\t\tpublic function get name():String\n", "\t\tpublic function Item()\n"):
        assert line in text


def test_writes_typescript(shop):
    assert codegen.main(["--lang", "ts", "codegen_shop:mapper", "-o", str(shop)]) == 0
    assert '  price: number = 0;\n' in (shop / "shop" / "Item.ts").read_text()


@pytest.mark.parametrize("args, message", [
    (["codegen_shop"], "expected MODULE:MAPPER, got 'codegen_shop'"),
    (["no_such_module_here:mapper"], "cannot import 'no_such_module_here'"),
    (["codegen_shop:nope"], "codegen_shop:nope: codegen_shop has no attribute 'nope'"),
    (["codegen_shop:Holder.nope"], "codegen_shop.Holder has no attribute 'nope'"),
    (["codegen_shop:not_a_mapper"],
     "codegen_shop:not_a_mapper is not a ClassDefMapper or a function returning one: got int"),
])
def test_usage_errors_exit_2(shop, args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        codegen.main(["--lang", "ts", *args, "-o", str(shop)])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_actionscript_options_are_refused_for_typescript(shop, capsys):
    with pytest.raises(SystemExit) as exited:
        codegen.main(["--lang", "ts", "--royale", "--bindable", "codegen_shop:mapper"])
    assert exited.value.code == 2
    assert "--royale, --bindable: ActionScript options, not for --lang ts" in (
        capsys.readouterr().err)


def test_a_class_that_cannot_be_written_exits_1_with_the_reason(shop, capsys):
    assert codegen.main(["--lang", "as3", "codegen_shop:bad_mapper", "-o", str(shop)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m amfast.codegen: error: ")
    assert "alias 'shop.bad-name'" in err and "Traceback" not in err
    assert not shop.exists()


def test_runs_as_a_module(shop):
    done = subprocess.run([sys.executable, "-m", "amfast.codegen", "--lang", "ts",
                           "codegen_shop:mapper", "-o", str(shop)],
                          cwd=shop.parent / "src", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (shop / "shop" / "Item.ts").exists()
