"""SQLAlchemy mapped classes as typed objects (AmFast's ``SaClassDef``), for SQLAlchemy 2.

Needs the optional extra ``amfast[sqlalchemy]``; nothing else in the codec imports this
module.  The wire format is AmFast's: the sealed members are ``sa_key`` (the primary key),
``sa_lazy`` (the names of the attributes not loaded), the mapped attributes, then any
extra ``static_attrs`` (hybrid or plain properties).  Encoding reads only what is loaded,
so it never runs SQL; decoding builds a transient instance for ``session.merge()``.
See docs/sqlalchemy.md.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Mapper, registry
from sqlalchemy.orm.attributes import instance_dict, instance_state, set_committed_value
from sqlalchemy.orm.exc import DetachedInstanceError

from amfast.class_def import ClassDef, ClassDefError, ClassDefMapper, alias_function
from amfast.class_def.as_types import AsNoProxy
from amfast.ext.decoder import ClassMappingError

__all__ = ["SaClassDef", "map_classes"]


def _mapper_of(class_: type) -> Mapper:
    try:
        mapper = sa_inspect(class_)
    except NoInspectionAvailable:
        mapper = None
    if not isinstance(mapper, Mapper):
        raise ClassDefError(f"{class_!r} is not mapped by SQLAlchemy")
    return mapper


def _read_only(class_: type, name: str) -> bool:
    """Whether ``name`` is a property (plain or hybrid) without a setter."""
    for klass in class_.__mro__:
        if name in vars(klass):
            attr = vars(klass)[name]
            return hasattr(attr, "fget") and getattr(attr, "fset", None) is None
    return False


class SaClassDef(ClassDef):
    """Maps a SQLAlchemy mapped class (declarative or imperative) to a sealed AS class.

    The mapped attributes are the mapper's column attributes, then its relationships,
    each in the mapper's order (composites and synonyms repeat columns: list them in
    ``static_attrs`` to send them too).  ``static_attrs`` adds attributes that are not
    mapped (hybrid or plain properties); they are read with ``getattr`` and, on
    decoding, set only when they have a setter.
    """

    KEY_ATTR = "sa_key"
    LAZY_ATTR = "sa_lazy"
    #: Send ``sa_key`` and ``sa_lazy`` as Arrays even when the encoder uses collections.
    no_proxy_sa_attrs = True

    def __init__(self, class_: type, alias: str | None = None, static_attrs=None,
                 amf3: bool | None = None, encode_types: Mapping[str, Callable] | None = None,
                 decode_types: Mapping[str, Callable] | None = None):
        self.mapper = _mapper_of(class_)
        #: The mapped attributes on the wire: the column attributes, then the relationships.
        self.mapped_attrs = tuple(prop.key for prop in self.mapper.column_attrs) + tuple(
            prop.key for prop in self.mapper.relationships)
        if static_attrs is None:
            static_attrs = getattr(class_, "_AMFAST_STATIC_ATTRS", ())
        extra = tuple(static_attrs)
        sealed = (self.KEY_ATTR, self.LAZY_ATTR) + self.mapped_attrs
        repeated = sorted(set(sealed) & set(extra))
        if repeated or len(set(sealed)) != len(sealed) or len(set(extra)) != len(extra):
            raise ClassDefError(f"{class_.__name__}: attributes listed twice: "
                                f"{repeated or 'in static_attrs'} (mapped attributes, "
                                f"{self.KEY_ATTR} and {self.LAZY_ATTR} are always sent)")
        ClassDef.__init__(self, class_, alias, sealed + extra, amf3, encode_types,
                          decode_types)
        self.extra_attrs = extra
        self._relation_targets = {rel.key: rel.mapper.class_
                                  for rel in self.mapper.relationships}
        self._collections = frozenset(rel.key for rel in self.mapper.relationships
                                      if rel.uselist)
        self._extra_settable = frozenset(name for name in extra if not _read_only(class_, name))
        self._decodable = frozenset(self.mapped_attrs) | self._extra_settable
        self._pk_keys = tuple(self.mapper.get_property_by_column(column).key
                              for column in self.mapper.primary_key)

    def getStaticAttrVals(self, obj: Any) -> list:
        """``sa_key``, ``sa_lazy``, the loaded values (None for those not loaded), extras.

        Only the instance state's loaded values are read (each attribute's
        ``loaded_value``): an attribute that is not loaded (lazy, deferred, expired, or
        never set: ``InstanceState.unloaded``) is named in ``sa_lazy`` and sent as null,
        so encoding never loads anything, even from a detached instance.  The extra
        attributes are read with ``getattr``: a property that reads what a detached
        instance lacks is named in ``sa_lazy`` too.
        """
        state = instance_state(obj)
        loaded = instance_dict(obj)
        key = state.key
        key = list(key[1]) if key is not None else [loaded.get(n) for n in self._pk_keys]
        # InstanceState.unloaded, for this class's attributes only (that property builds a
        # set of every instrumented attribute, which made encoding a row twice as slow).
        lazy = [n for n in self.mapped_attrs if n not in loaded]
        if lazy and state.committed_state:
            lazy = [n for n in lazy if n not in state.committed_state]
        get = loaded.get
        vals = [AsNoProxy(key), AsNoProxy(lazy)] if self.no_proxy_sa_attrs else [key, lazy]
        vals += [get(n) for n in self.mapped_attrs]
        for name in self.extra_attrs:
            try:
                vals.append(getattr(obj, name, None))
            except DetachedInstanceError:  # it reads what a detached instance lacks
                lazy.append(name)
                vals.append(None)
        return vals

    def getInstance(self) -> Any:
        """A new transient instance, instrumented; ``__init__`` is not called."""
        return self.mapper.class_manager.new_instance()

    def applyAttrVals(self, obj: Any, vals: dict) -> None:
        """Give the new instance the client's values as its loaded state.

        Values are set as SQLAlchemy sets what it loads (``set_committed_value``): no
        history, and no backref events, so one decoded object never fills a relation of
        another that the client did not send.  The attributes named in ``sa_lazy`` stay
        unset, and so does a null collection: ``session.merge()`` leaves them alone.
        Members this ClassDef does not list, and read-only properties, are ignored;
        ``sa_key`` is kept as ``obj.sa_key``.
        """
        lazy = vals.get(self.LAZY_ATTR) or ()
        if not isinstance(lazy, (list, tuple)) or not all(isinstance(n, str) for n in lazy):
            raise ClassMappingError(f"{self.alias}: {self.LAZY_ATTR} must be a list of names, "
                                    f"not {lazy!r:.100}")
        skip = set(lazy)
        for name, val in vals.items():
            if name not in self._decodable or name in skip:
                continue
            if name in self._extra_settable:
                self._set(obj, name, val, setattr)
                continue
            target = self._relation_targets.get(name)
            if target is not None:
                if name in self._collections:
                    if val is None:
                        continue
                    val = list(val.values()) if isinstance(val, dict) else val
                    if not isinstance(val, (list, tuple)) or not all(
                            isinstance(item, target) for item in val):
                        raise ClassMappingError(
                            f"{self.alias}.{name} must be a list of {target.__name__}, "
                            f"not {val!r:.100}")
                elif val is not None and not isinstance(val, target):
                    raise ClassMappingError(f"{self.alias}.{name} must be a "
                                            f"{target.__name__} or null, not {val!r:.100}")
            self._set(obj, name, val, set_committed_value)
        setattr(obj, self.KEY_ATTR, vals.get(self.KEY_ATTR))

    def _set(self, obj: Any, name: str, val: Any, setter: Callable) -> None:
        try:
            setter(obj, name, val)
        except Exception as exc:
            raise ClassMappingError(f"{self.alias}.{name} cannot be set to "
                                    f"{type(val).__name__}: {exc}") from None


def _class_defs_source(base_or_registry: Any) -> registry:
    if isinstance(base_or_registry, registry):
        return base_or_registry
    found = getattr(base_or_registry, "registry", None)
    if isinstance(found, registry):
        return found
    raise ClassDefError(f"{base_or_registry!r} is neither a declarative base nor a "
                        "sqlalchemy.orm.registry")


def map_classes(class_def_mapper: ClassDefMapper, base_or_registry: Any,
                aliases: Mapping[type, str] | Callable[[type], str | None] | None = None,
                static_attrs: Mapping[type, Iterable[str]] | None = None,
                amf3: bool | None = None) -> list[SaClassDef]:
    """Map every class of a declarative base or ``registry`` with an ``SaClassDef``.

    ``aliases`` gives a class's alias: a mapping (classes it lacks keep the default,
    ``_AMFAST_ALIAS`` or ``module.ClassName``) or a function of the class (None: the
    default), e.g. ``lambda cls: "com.example.model." + cls.__name__``.
    ``static_attrs`` maps a class to its extra attributes (hybrid properties).
    Returns the new ClassDefs, ordered by class name.
    """
    mappers = sorted(_class_defs_source(base_or_registry).mappers,
                     key=lambda m: (m.class_.__module__, m.class_.__qualname__))
    alias_of = alias_function(aliases)
    extras = dict(static_attrs or {})
    class_defs = []
    for mapper in mappers:
        class_ = mapper.class_
        class_def = SaClassDef(class_, alias_of(class_), extras.get(class_), amf3)
        class_def_mapper.mapClass(class_def)
        class_defs.append(class_def)
    return class_defs

