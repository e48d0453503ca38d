"""ORM rows on the wire: amfast's SaClassDef against py3amf's SQLAlchemy adapter and a ClassDef.

Run it with ``make bench-sqlalchemy`` (or by hand: ``.venv/bin/python
bench/bench_sqlalchemy.py [--quick]``; with ``PYTHONPATH=bench/.py3amf-cython``, as the make
target sets it, py3amf runs with its Cython extension).

The data: 1,000 ``Customer`` rows, each with its one-to-many ``orders`` (3 ``Order`` rows)
loaded (``selectinload``), read from SQLite in memory.  Each encoder gets the same rows
loaded the same way, by a session of its own that stays open while everything is measured
(py3amf's adapter loads what it reads, which would change what the others send):

* amfast SaClassDef: ``sa_key``, ``sa_lazy`` and the mapped attributes; each order's
  ``customer`` (many-to-one, not loaded) goes out null and is named in ``sa_lazy``.
* py3amf: ``pyamf.register_class`` on the mapped classes, which py3amf's SQLAlchemy adapter
  (``pyamf.adapters._sqlalchemy_orm``) takes over.  It reads every mapped attribute with
  ``getattr``, so it loads ``Order.customer``: from the session's identity map, without SQL.
* amfast ClassDef: a plain sealed ClassDef listing the loaded attributes (no ``sa_key``,
  ``sa_lazy``, ``customer``): the baseline without ORM bookkeeping (it reads each attribute
  through SQLAlchemy's descriptors).

Each encoding of the list is one AMF3 value; timings are medians of up to 15 rounds after a
warm-up, each round running every encoder once.  The targets: SaClassDef at least 5x faster
than py3amf, and within 2x of the ClassDef.  SQL statements run while encoding are counted.
"""
from __future__ import annotations

import argparse
import datetime
import random
import statistics
import sys
from typing import Any, Callable

from harness import interleaved_times, py3amf_amf3
from sqlalchemy import ForeignKey, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, mapped_column, relationship,
                            selectinload)

ROWS = 1000
ORDERS_PER_ROW = 3
CUSTOMER_ALIAS = "bench.Customer"
ORDER_ALIAS = "bench.Order"
CUSTOMER_COLUMNS = ("id", "name", "email", "created", "balance", "active")
ORDER_COLUMNS = ("id", "customer_id", "sku", "quantity", "price", "placed")


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(120))
    created: Mapped[datetime.datetime]
    balance: Mapped[float]
    active: Mapped[bool]
    orders: Mapped[list["Order"]] = relationship(back_populates="customer")


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    sku: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int]
    price: Mapped[float]
    placed: Mapped[datetime.datetime]
    customer: Mapped[Customer] = relationship(back_populates="orders")


def make_database() -> tuple[Engine, list[str]]:
    """SQLite in memory with the rows, and the log of the SQL run from then on."""
    rng = random.Random(14)
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    epoch = datetime.datetime(2020, 1, 1)
    with Session(engine) as session:
        for n in range(ROWS):
            session.add(Customer(
                name=f"customer {n}", email=f"c{n}@example.com", balance=rng.random() * 1000,
                created=epoch + datetime.timedelta(seconds=rng.randrange(10 ** 8)),
                active=bool(n % 3), orders=[
                    Order(sku=f"SKU-{rng.randrange(10 ** 5)}", quantity=rng.randrange(1, 9),
                          price=round(rng.random() * 100, 2),
                          placed=epoch + datetime.timedelta(seconds=rng.randrange(10 ** 8)))
                    for _ in range(ORDERS_PER_ROW)]))
        session.commit()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    return engine, statements


def load_rows(engine: Engine) -> tuple[Session, list[Customer]]:
    """A session (left open) and its 1,000 customers with their orders loaded."""
    session = Session(engine)
    rows = list(session.scalars(select(Customer).options(selectinload(Customer.orders))
                                .order_by(Customer.id)))
    return session, rows


def amfast_sa_encoder() -> Callable[[Any], bytes]:
    from amfast.class_def import ClassDefMapper
    from amfast.class_def.sa_class_def import map_classes
    from amfast.encoder import Encoder

    mapper = ClassDefMapper()
    map_classes(mapper, Base, {Customer: CUSTOMER_ALIAS, Order: ORDER_ALIAS})
    return Encoder(amf3=True, class_def_mapper=mapper).encode


def amfast_plain_encoder() -> Callable[[Any], bytes]:
    from amfast.class_def import ClassDef, ClassDefMapper
    from amfast.encoder import Encoder

    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Customer, CUSTOMER_ALIAS, CUSTOMER_COLUMNS + ("orders",)))
    mapper.mapClass(ClassDef(Order, ORDER_ALIAS, ORDER_COLUMNS))
    return Encoder(amf3=True, class_def_mapper=mapper).encode


def py3amf_encoder() -> tuple[str, Callable[[Any], bytes]]:
    import pyamf
    import pyamf.adapters._sqlalchemy_orm as adapter

    pyamf.register_class(Customer, CUSTOMER_ALIAS)
    pyamf.register_class(Order, ORDER_ALIAS)
    if not isinstance(pyamf.get_class_alias(Customer), adapter.SaMappedClassAlias):
        raise SystemExit("py3amf's SQLAlchemy adapter did not take the mapped classes")
    return py3amf_amf3("SQLAlchemy adapter")


def check(label: str, raw: bytes, rows: list[Customer]) -> None:
    """Every encoding must carry every row and its orders (read back as TypedObjects)."""
    from amfast.decoder import Decoder

    decoded = Decoder(amf3=True).decode(raw)
    got = [item.get("name") for item in decoded]
    orders = sum(len(item.get("orders") or ()) for item in decoded)
    if got != [row.name for row in rows] or orders != ROWS * ORDERS_PER_ROW:
        raise SystemExit(f"{label}: the encoding does not hold the rows ({len(got)} rows, "
                         f"{orders} orders)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="at most 5 rounds")
    args = parser.parse_args()
    max_runs, budget_s = (5, 1.0) if args.quick else (15, 8.0)

    import sqlalchemy

    engine, statements = make_database()
    py3amf_label, py3amf_encode = py3amf_encoder()
    encoders = {"amfast SaClassDef": amfast_sa_encoder(), py3amf_label: py3amf_encode,
                "amfast ClassDef": amfast_plain_encoder()}
    # Each encoder gets the rows from a session of its own: py3amf's adapter loads what it
    # reads, which would change what the others send.
    sessions = {label: load_rows(engine) for label in encoders}
    sizes, sql = {}, {}
    for label, encode in encoders.items():
        rows = sessions[label][1]
        before = len(statements)
        raw = encode(rows)
        sql[label] = len(statements) - before
        check(label, raw, rows)
        sizes[label] = len(raw)
    times, runs = interleaved_times(encoders, {label: rows for label, (_, rows) in
                                               sessions.items()}, max_runs, budget_s)
    timings = {label: statistics.median(t) * 1000 for label, t in times.items()}
    for session, _ in sessions.values():
        session.close()

    print(f"python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}: "
          f"{ROWS:,} rows with {ORDERS_PER_ROW} loaded orders each, one AMF3 value")
    sa_ms = timings["amfast SaClassDef"]
    header = ("encoder", "encode ms", "size B", "SQL", "vs SaClassDef")
    table = [header] + [(label, f"{ms:.2f}", f"{sizes[label]:,}", str(sql[label]),
                         f"{ms / sa_ms:.2f}x") for label, ms in timings.items()]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"medians of {runs} interleaved runs")
    py3amf_ms = timings[py3amf_label]
    plain_ms = timings["amfast ClassDef"]
    for what, value, limit, met in (
            ("py3amf / SaClassDef", py3amf_ms / sa_ms, ">= 5", py3amf_ms >= 5 * sa_ms),
            ("SaClassDef / ClassDef", sa_ms / plain_ms, "<= 2", sa_ms <= 2 * plain_ms)):
        print(f"target: {what} {limit}: {value:.2f}x, {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
