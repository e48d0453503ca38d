"""The TypeScript classes amfast.codegen writes for the e2e server's codegen_mapper compile
under ``tsc --strict`` (typescript from tests/e2e/node_modules, pinned in package.json), carry
the types of the Python annotations, and start with the values docs/codegen.md describes.

The ActionScript side is compiled into the Royale client (see the Makefile) and its items are
in items_royale.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TSC = HERE / "node_modules" / "typescript" / "bin" / "tsc"

# Uses the generated classes as a client would; each @ts-expect-error line must be an error,
# so the attributes are typed, not any.
USE = """\
import { Address } from "./e2e/codegen/Address";
import { Badge } from "./e2e/codegen/Badge";
import { Customer } from "./e2e/codegen/Customer";

const customer = new Customer();
customer.id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
customer.score = 4.5;
customer.vip = true;
customer.joined = new Date(0);
customer.level = 2;
customer.address = new Address();
customer.address.lines.push("flat 3");
customer.tags.push("a");
customer.ratings["speed"] = 4.5;
customer.avatar = new Uint8Array([0, 1, 255]);
customer.nickname = null;
// @ts-expect-error: name is a string
customer.name = null;
// @ts-expect-error: score is a number
customer.score = "high";
// @ts-expect-error: the tags are strings
customer.tags.push(1);
// @ts-expect-error: an address is an Address
customer.address = new Badge();
const badge = new Badge();
badge["color"] = "red";
const aliases: string[] = [Address.ALIAS, Customer.ALIAS, Badge.ALIAS];
console.log(JSON.stringify({aliases, customer: new Customer(), badge: new Badge()}));
"""


def test_generated_typescript_compiles_strict_and_runs(tmp_path):
    if not TSC.exists():
        pytest.fail("typescript is not installed in tests/e2e/node_modules; run `make e2e`",
                    pytrace=False)
    out = tmp_path / "ts"
    subprocess.run([sys.executable, "-m", "amfast.codegen", "--lang", "ts",
                    "tests.e2e.server:codegen_mapper", "-o", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
    (out / "use.ts").write_text(USE)
    compiled = subprocess.run(
        ["node", str(TSC), "--strict", "--target", "es2020", "--module", "commonjs",
         "--outDir", str(tmp_path / "js"), *sorted(str(p) for p in out.rglob("*.ts"))],
        capture_output=True, text=True, timeout=180)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    ran = subprocess.run(["node", str(tmp_path / "js" / "use.js")], capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {
        "aliases": ["e2e.codegen.Address", "e2e.codegen.Customer", "e2e.codegen.Badge"],
        "customer": {"id": "", "name": "", "score": 0, "vip": False, "joined": None,
                     "level": 0, "address": None, "tags": [], "ratings": {}, "avatar": None,
                     "nickname": None},
        "badge": {"label": "", "weight": 0},
    }
