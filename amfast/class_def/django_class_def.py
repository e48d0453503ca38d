"""Django models as typed objects (AmFast's ``DjangoDef``), and QuerySets as lists.

Needs the optional extra ``amfast[django]``; nothing else in the codec imports this
module.  The sealed members of a model are its concrete fields in ``_meta`` order (a
foreign key as ``<name>_id``, and as ``<name>``, the related object when it is loaded),
then its many-to-many and reverse relations.  Encoding reads only what is loaded: a
related object not fetched with ``select_related`` is sent as null (its id is always
there), a to-many relation not fetched with ``prefetch_related`` is sent as null, so
encoding never runs a query.  Decoding builds an unsaved instance for the target to
``full_clean()`` and ``save()``.  See docs/django.md.
"""
from __future__ import annotations

import datetime
import decimal
import operator
import uuid
from typing import Any, Callable, Iterable, Mapping

from django.apps import apps
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models.query import QuerySet

from amfast.class_def import (ClassDef, ClassDefError, ClassDefMapper, SequenceClassDef,
                               alias_function)
from amfast.ext.decoder import ClassMappingError

__all__ = ["DjangoClassDef", "DjangoDef", "map_models", "map_querysets"]

#: Sent only when a mapping lists them in ``include`` (a user's password hash).
SECRET_FIELDS = {AbstractBaseUser: ("password",)}


def _wire_value(field: models.Field) -> Callable[[Any], Any] | None:
    """How a field's Python value goes on the wire when AMF has no type for it (and a
    Decimal as the double the encoder would make of it, without its slower lookup)."""
    if isinstance(field, models.DecimalField):
        return lambda v: None if v is None else float(v)
    if isinstance(field, models.UUIDField):
        return lambda v: None if v is None else str(v)
    if isinstance(field, models.TimeField):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(field, models.DurationField):
        return lambda v: None if v is None else v.total_seconds()
    return None


def _from_wire(field: models.Field) -> Callable[[Any], Any] | None:
    if isinstance(field, models.DateTimeField):
        # AMF dates are UTC; a naive datetime would be read in settings.TIME_ZONE.
        return lambda v: (v.replace(tzinfo=datetime.timezone.utc)
                          if isinstance(v, datetime.datetime) and v.tzinfo is None
                          and settings.USE_TZ else v)
    if isinstance(field, models.DecimalField):
        # The double's shortest text (1.1 -> "1.1"): Django's own float conversion keeps
        # max_digits digits (1.1000000), which full_clean refuses as too many places.
        return lambda v: decimal.Decimal(repr(v)) if isinstance(v, float) else v
    if isinstance(field, models.UUIDField):
        return lambda v: v if v is None or isinstance(v, uuid.UUID) else uuid.UUID(str(v))
    if isinstance(field, models.TimeField):
        return lambda v: v if not isinstance(v, str) else datetime.time.fromisoformat(v)
    if isinstance(field, models.DurationField):
        return lambda v: v if not isinstance(v, (int, float)) else datetime.timedelta(seconds=v)
    return None


def _secret_names(class_: type) -> set:
    return {name for base, names in SECRET_FIELDS.items() if issubclass(class_, base)
            for name in names}


class DjangoClassDef(ClassDef):
    """Maps a Django model to a sealed AS class.

    ``foreign_keys``: ``"both"`` (default) sends ``<fk>_id`` and ``<fk>`` (the related
    object when loaded, else null), ``"ids"`` only ``<fk>_id``.  ``relations``: send
    the many-to-many and reverse relations (default True; null unless prefetched).
    ``exclude`` names fields or relations not to send (nor accept); a user model's
    ``password`` is excluded unless ``include`` names it.  ``static_attrs`` adds
    attributes that are not fields (properties), read with ``getattr``.
    """

    def __init__(self, class_: type, alias: str | None = None, static_attrs=None,
                 amf3: bool | None = None, encode_types: Mapping[str, Callable] | None = None,
                 decode_types: Mapping[str, Callable] | None = None,
                 exclude: Iterable[str] = (), include: Iterable[str] = (),
                 foreign_keys: str = "both", relations: bool = True):
        if not (isinstance(class_, type) and issubclass(class_, models.Model)):
            raise ClassDefError(f"{class_!r} is not a Django model")
        if foreign_keys not in ("both", "ids"):
            raise ClassDefError("foreign_keys must be 'both' or 'ids'")
        meta = class_._meta
        skip = (set(exclude) | _secret_names(class_)) - set(include)
        #: (wire name, attribute name, converter) of the plain values: fields and fk ids.
        self._plain: list[tuple[str, str, Callable | None]] = []
        #: (wire name, field) of the foreign keys sent as objects.
        self._related: list[tuple[str, models.Field]] = []
        #: (wire name, related model) of the to-many relations.
        self._many: list[tuple[str, type]] = []
        for field in meta.concrete_fields:
            if field.name in skip:
                continue
            if field.is_relation:
                self._plain.append((field.attname, field.attname, None))
                if foreign_keys == "both":
                    self._related.append((field.name, field))
            else:
                self._plain.append((field.name, field.attname, _wire_value(field)))
        if relations:
            for field in meta.many_to_many:
                if field.name not in skip:
                    self._many.append((field.name, field.related_model))
            for rel in meta.related_objects:
                name = rel.get_accessor_name()
                if name and name not in skip:
                    if rel.one_to_one:
                        self._related.append((name, rel))
                    else:
                        self._many.append((name, rel.related_model))
        if static_attrs is None:
            static_attrs = getattr(class_, "_AMFAST_STATIC_ATTRS", ())
        self.extra_attrs = tuple(static_attrs)
        sealed = tuple(n for n, _, _ in self._plain) + tuple(n for n, _ in self._related) + \
            tuple(n for n, _ in self._many)
        if len(set(sealed + self.extra_attrs)) != len(sealed) + len(self.extra_attrs):
            raise ClassDefError(f"{class_.__name__}: attributes listed twice in static_attrs")
        ClassDef.__init__(self, class_, alias, sealed + self.extra_attrs, amf3, encode_types,
                          decode_types)
        self._decoders = {field.name: conv for field in meta.concrete_fields
                          if (conv := _from_wire(field)) is not None}
        self._pk_attname = meta.pk.attname
        self._attnames = {n: a for n, a, _ in self._plain}
        # Reading the fields is most of encoding a model: one C call for all of them.
        attnames = [attname for _, attname, _ in self._plain]
        self._read_plain = (operator.itemgetter(*attnames) if len(attnames) > 1 else
                            lambda loaded: tuple(loaded[name] for name in attnames))
        self._converted = [(i, conv) for i, (_, _, conv) in enumerate(self._plain) if conv]
        self._related_fields = {n: f for n, f in self._related if isinstance(f, models.Field)}

    def getStaticAttrVals(self, obj: Any) -> list:
        """The fields' values, the loaded related objects, the prefetched relations (null
        for those not loaded), then the extra attributes."""
        loaded = obj.__dict__
        try:
            vals = list(self._read_plain(loaded))
        except KeyError:  # deferred fields (``only``, ``defer``): not loaded, sent null
            vals = [loaded.get(attname) for _, attname, _ in self._plain]
        for index, conv in self._converted:
            vals[index] = conv(vals[index])
        if self._related:
            cached = loaded["_state"].fields_cache
            vals += [cached.get(name) for name, _ in self._related]
        if self._many:
            prefetched = loaded.get("_prefetched_objects_cache") or {}
            for name, _ in self._many:
                found = prefetched.get(name)
                vals.append(None if found is None else list(found))
        for name in self.extra_attrs:
            vals.append(getattr(obj, name, None))
        return vals

    def referenceKey(self, obj: Any) -> Any:
        """The primary key: a row loaded twice (by ``select_related`` from many rows) is
        one object on the wire, written once in a message with the values of its first
        instance; an unsaved instance (no key) is itself."""
        return obj.__dict__.get(self._pk_attname)

    def getInstance(self) -> Any:
        """A new unsaved instance: the model's ``__init__`` runs (its defaults)."""
        return self.class_()

    def applyAttrVals(self, obj: Any, vals: dict) -> None:
        """Set the client's values on the new instance; ``full_clean()`` validates them.

        Fields and ids are set as given (converted back where the wire changed them:
        UUIDs, times, durations); a related object must be an instance of its model or
        null.  To-many relations cannot be set on an unsaved instance: they are kept in
        ``obj.amf_relations`` (name -> list) for the target to apply after ``save()``.
        With a primary key the instance stands for that row (saving updates it).
        """
        relations = {}
        for name, val in vals.items():
            attname = self._attnames.get(name)
            if attname is not None:
                conv = self._decoders.get(name)
                try:
                    setattr(obj, attname, val if conv is None else conv(val))
                except (TypeError, ValueError) as exc:
                    raise ClassMappingError(f"{self.alias}.{name}: {exc}") from None
                continue
            field = self._related_fields.get(name)
            if field is not None:
                if val is None:
                    continue  # not loaded when sent: the id says which row
                if not isinstance(val, field.related_model):
                    raise ClassMappingError(f"{self.alias}.{name} must be a "
                                            f"{field.related_model.__name__} or null")
                setattr(obj, name, val)
            elif name in self.extra_attrs:
                try:
                    setattr(obj, name, val)
                except AttributeError:
                    pass  # a read-only property
            elif val is not None and any(name == n for n, _ in self._many):
                if not isinstance(val, (list, tuple)):
                    raise ClassMappingError(f"{self.alias}.{name} must be a list or null")
                relations[name] = list(val)
        obj.amf_relations = relations
        obj._state.adding = obj.pk is None


#: AmFast's name.
DjangoDef = DjangoClassDef


def map_querysets(class_def_mapper: ClassDefMapper) -> None:
    """Send QuerySets (and their subclasses) as lists: evaluated once, as ``list()``."""
    class_def_mapper.mapClass(SequenceClassDef(QuerySet))


def map_models(class_def_mapper: ClassDefMapper, app_label: str,
               aliases: Mapping[type, str] | Callable[[type], str | None] | None = None,
               **options: Any) -> list[DjangoClassDef]:
    """Map every model of the installed app ``app_label`` with a ``DjangoClassDef``, and
    QuerySets as lists.

    ``aliases`` gives a model's alias: a mapping or a function of the model (None: the
    default, ``module.ClassName``).  ``options`` go to every ``DjangoClassDef``
    (``exclude`` names are skipped where a model lacks them).  The models of other apps
    that these relate to (a ``User`` as an author) get a ``DjangoClassDef`` with the default
    options when they have none yet: unmapped, a model instance would go out as an
    anonymous object with every loaded field (a password hash too).  Returns the new
    ClassDefs.
    """
    alias_of = alias_function(aliases)
    models = list(apps.get_app_config(app_label).get_models())
    class_defs = [DjangoClassDef(model, alias_of(model), **options) for model in models]
    related = {field.related_model for model in models for field in model._meta.get_fields()
               if field.is_relation and isinstance(field.related_model, type)}
    class_defs += [DjangoClassDef(model, alias_of(model)) for model in related
                   if model not in models and class_def_mapper.getClassDefByClass(model) is None]
    for class_def in class_defs:
        class_def_mapper.mapClass(class_def)
    map_querysets(class_def_mapper)
    return class_defs
