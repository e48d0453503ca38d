"""Django model instances on the wire: amfast's DjangoClassDef against py3amf's Django adapter.

Run it with ``make bench-django`` (or by hand: ``.venv/bin/python bench/bench_django.py
[--quick]``; with ``PYTHONPATH=bench/.py3amf-cython``, as the make target sets it, py3amf
runs with its Cython extension).

The data: 1,000 ``Customer`` instances, each with its ``company`` (a foreign key) loaded by
``select_related``, read from SQLite in memory; every encoder gets the same instances.

* amfast DjangoClassDef: the concrete fields, ``company_id`` and the loaded ``company``;
  the reverse relation ``orders`` (not prefetched) goes out null, with no query.  The 50
  companies are written once each, then as references (``referenceKey``: the primary
  key), as py3amf's adapter also does.
* py3amf: ``pyamf.register_class`` on the models, which py3amf's Django adapter
  (``pyamf.adapters._django_db_models_base``) takes over.  It calls ``Options``
  methods Django removed in 1.10 (``get_all_field_names``, ``get_field_by_name``); when
  they are missing the run says so and measures it with ``shim_options``, which puts
  them back.
* amfast DjangoClassDef, ids only (``foreign_keys="ids"``): what py3amf's adapter sends
  with current Django (it finds no loaded relation: it looks where Django 1.x kept them).
* amfast ClassDef: a plain sealed ClassDef listing the same fields read with ``getattr``:
  the baseline without Django bookkeeping.

Each encoding of the list is one AMF3 value; the table gives the median, the p99 (the
slowest of the rounds when there are fewer than 100) and the fastest of up to 15
interleaved rounds after a warm-up, and the load average.  The target: DjangoClassDef at least 5x faster than py3amf.  SQL queries run while
encoding are counted.
"""
from __future__ import annotations

import argparse
import datetime
import decimal
import random
import statistics
import sys
from typing import Any, Callable

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.contenttypes"], USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField")
django.setup()

from django.db import connection, models  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from harness import interleaved_times, print_table, py3amf_amf3  # noqa: E402

ROWS = 1000
COMPANY_ALIAS = "bench.Company"
CUSTOMER_ALIAS = "bench.Customer"
ORDER_ALIAS = "bench.Order"
CUSTOMER_FIELDS = ("id", "name", "email", "created", "balance", "active", "visits",
                   "company_id", "company")
COMPANY_FIELDS = ("id", "name", "country")


class Company(models.Model):
    name = models.CharField(max_length=80)
    country = models.CharField(max_length=2)

    class Meta:
        app_label = "bench"


class Customer(models.Model):
    name = models.CharField(max_length=80)
    email = models.EmailField()
    created = models.DateTimeField()
    balance = models.DecimalField(max_digits=10, decimal_places=2)
    active = models.BooleanField()
    visits = models.IntegerField()
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="customers")

    class Meta:
        app_label = "bench"


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    sku = models.CharField(max_length=20)

    class Meta:
        app_label = "bench"


def make_database() -> None:
    rng = random.Random(15)
    with connection.schema_editor() as editor:
        for model in (Company, Customer, Order):
            editor.create_model(model)
    companies = Company.objects.bulk_create(
        Company(name=f"company {n}", country=rng.choice(["FR", "DE", "US"])) for n in range(50))
    epoch = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    Customer.objects.bulk_create(Customer(
        name=f"customer {n}", email=f"c{n}@example.com",
        created=epoch + datetime.timedelta(seconds=rng.randrange(10 ** 8)),
        balance=decimal.Decimal(rng.randrange(10 ** 6)) / 100, active=bool(n % 3),
        visits=rng.randrange(1000), company=rng.choice(companies)) for n in range(ROWS))


def load_rows() -> list[Customer]:
    return list(Customer.objects.select_related("company").order_by("id"))


def amfast_django_encoder(foreign_keys: str = "both") -> Callable[[Any], bytes]:
    from amfast.class_def import ClassDefMapper
    from amfast.class_def.django_class_def import DjangoClassDef
    from amfast.encoder import Encoder

    mapper = ClassDefMapper()
    for model, alias in ((Company, COMPANY_ALIAS), (Customer, CUSTOMER_ALIAS),
                         (Order, ORDER_ALIAS)):
        mapper.mapClass(DjangoClassDef(model, alias, foreign_keys=foreign_keys))
    return Encoder(amf3=True, class_def_mapper=mapper).encode


def amfast_plain_encoder() -> Callable[[Any], bytes]:
    from amfast.class_def import ClassDef, ClassDefMapper
    from amfast.encoder import Encoder

    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Customer, CUSTOMER_ALIAS, CUSTOMER_FIELDS))
    mapper.mapClass(ClassDef(Company, COMPANY_ALIAS, COMPANY_FIELDS))
    return Encoder(amf3=True, class_def_mapper=mapper).encode


def shim_options() -> None:
    """The two ``Options`` methods py3amf's adapter calls, removed in Django 1.10, written
    back from ``get_fields`` and ``get_field`` as Django's 1.8 upgrade notes tell."""
    from django.db.models.options import Options

    def get_all_field_names(self: Options) -> list[str]:
        return sorted({name for field in self.get_fields()
                       if not (field.many_to_one and field.related_model is None)
                       for name in (field.name, getattr(field, "attname", field.name))})

    def get_field_by_name(self: Options, name: str) -> tuple:
        field = self.get_field(name)
        return (field, field.model, not field.auto_created or field.concrete,
                field.many_to_many)

    Options.get_all_field_names = get_all_field_names
    Options.get_field_by_name = get_field_by_name


def py3amf_encoder(shim: bool) -> tuple[str, Callable[[Any], bytes]]:
    import pyamf
    import pyamf.adapters._django_db_models_base as adapter

    if shim:
        shim_options()
    for model, alias in ((Company, COMPANY_ALIAS), (Customer, CUSTOMER_ALIAS),
                         (Order, ORDER_ALIAS)):
        pyamf.register_class(model, alias)
    if not isinstance(pyamf.get_class_alias(Customer), adapter.DjangoClassAlias):
        raise SystemExit("py3amf's Django adapter did not take the models")
    return py3amf_amf3("Django adapter, shim" if shim else "Django adapter")


def check(label: str, raw: bytes, rows: list[Customer]) -> int:
    """Every encoding must carry every row (read back as TypedObjects); how many carry
    their company (py3amf's adapter looks for loaded relations where Django 1.x kept
    them, ``_<name>_cache``, so it sends none)."""
    from amfast.decoder import Decoder

    decoded = Decoder(amf3=True).decode(raw)
    if [item.get("name") for item in decoded] != [row.name for row in rows]:
        raise SystemExit(f"{label}: the encoding does not hold the rows")
    companies = [(item.get("company") or {}).get("name") for item in decoded]
    sent = sum(1 for got, row in zip(companies, rows) if got == row.company.name)
    if sent not in (0, len(rows)):
        raise SystemExit(f"{label}: {sent} of {len(rows)} companies")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="at most 5 rounds")
    args = parser.parse_args()
    max_runs, budget_s = (5, 1.0) if args.quick else (15, 8.0)

    make_database()
    encoders = {"amfast DjangoClassDef": amfast_django_encoder()}
    # py3amf's adapter as it is first; where it fails, with the shim.
    py3amf_label = None
    for shim in (False, True):
        try:
            label, encode = py3amf_encoder(shim)
            encode(load_rows()[:1])
        except Exception as exc:
            print(f"py3amf's Django adapter{' with the shim' if shim else ''} fails with "
                  f"Django {django.__version__}: {type(exc).__name__}: {exc}")
            continue
        py3amf_label = label
        encoders[label] = encode
        break
    # What py3amf's adapter sends with current Django: the ids, not the companies.
    encoders["amfast DjangoClassDef, ids only"] = amfast_django_encoder("ids")
    encoders["amfast ClassDef"] = amfast_plain_encoder()
    rows = {label: load_rows() for label in encoders}
    sizes, sql, companies = {}, {}, {}
    for label, encode in encoders.items():
        with CaptureQueriesContext(connection) as queries:
            raw = encode(rows[label])
        sql[label] = len(queries)
        companies[label] = check(label, raw, rows[label])
        sizes[label] = len(raw)
    times, runs = interleaved_times(encoders, rows, max_runs, budget_s)
    medians = {label: statistics.median(t) * 1000 for label, t in times.items()}
    p99 = {label: sorted(t)[min(len(t) - 1, int(len(t) * 0.99))] * 1000
           for label, t in times.items()}
    # The fastest round: what a quiet machine gives (a shared one preempts the short runs
    # most, which weighs on the medians of the fastest encoders).
    best = {label: min(t) * 1000 for label, t in times.items()}

    print(f"python {sys.version.split()[0]}, Django {django.__version__}: {ROWS:,} customers "
          f"with their company loaded (select_related), one AMF3 value")
    base = medians["amfast DjangoClassDef"]
    print_table(("encoder", "median ms", "p99 ms", "best ms", "size B", "SQL", "companies",
                 "vs DjangoClassDef"),
                [(label, f"{ms:.2f}", f"{p99[label]:.2f}", f"{best[label]:.2f}",
                  f"{sizes[label]:,}", str(sql[label]), f"{companies[label]:,}",
                  f"{ms / base:.2f}x") for label, ms in medians.items()])
    print(f"medians of {runs} interleaved runs (p99: the slowest when under 100 runs; "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])})")
    if py3amf_label in medians:
        for what, times_ms in (("medians", medians), ("best rounds", best)):
            ratio = times_ms[py3amf_label] / times_ms["amfast DjangoClassDef"]
            same = times_ms[py3amf_label] / times_ms["amfast DjangoClassDef, ids only"]
            print(f"target: py3amf / DjangoClassDef >= 5 ({what}): {ratio:.2f}x, "
                  f"{'met' if ratio >= 5 else 'MISSED'}; same content (ids only): {same:.2f}x")


if __name__ == "__main__":
    main()
