# Everything installs into .venv inside the checkout (or the active virtualenv).
PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.amfast-installed

.PHONY: install build test bench demo clean memcached redis postgresql fuzz bench-messaging

$(VPY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package metadata changes; the extension is rebuilt by `build`.
$(STAMP): pyproject.toml setup.py | $(VPY)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

build: install
	$(VPY) setup.py -q build_ext --inplace -j 2

# Memcached comes from Debian's packages when the machine lacks it.
memcached:
	@command -v memcached >/dev/null 2>&1 || { \
	  echo "installing memcached from Debian packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null; }

# Redis (redis-server, and redis-cli to make the test Cluster) likewise.
redis:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || { \
	  echo "installing redis-server and redis-tools from Debian packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    redis-server redis-tools >/dev/null; }

# PostgreSQL's server binaries (the SQL managers' tests start private clusters with them) come
# from Debian's packages when the machine lacks them; the package also makes the `postgres`
# user the server runs as when the tests run as root.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql from Debian packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }


# The examples on 127.0.0.1 with the in-memory managers: RPC on :8000 and chat on :8001 (WSGI),
# each with its console at /console/ (login DEMO_LOGIN), and the chat on :8002/flex/ (ASGI, in
# a Starlette application); a chat client says hello every 2 s on the streaming channel of
# :8001, so the chat console's charts and connections move.
DEMO_LOGIN ?= demo:demo
demo: build
	trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(VPY) examples/messaging/server.py 8001 --console $(DEMO_LOGIN) & \
	$(VPY) examples/asgi/app.py 8002 & \
	sleep 1; (while sleep 2; do echo "hello from the demo"; done) | \
	  $(VPY) examples/messaging/client.py demo --port 8001 --channel streaming >/dev/null & \
	$(VPY) examples/hello/server.py 8000 --console $(DEMO_LOGIN)

# The import contracts of pyproject.toml (the layers of docs/architecture.md), then the suite
# (its Django tests under the current LTS), then the Django tests under the current release.
test: build memcached redis postgresql
	$(VENV)/bin/lint-imports
	$(VPY) -m pytest
	$(MAKE) --no-print-directory test-django-current

# Django's current release (6.1) needs Python 3.12 or later, the suite's venv has 3.11: the
# Django tests (tests/django_tests) run again in .venv-django-current, made from the first
# Python >= 3.12 found (DJANGO_PYTHON to choose; pyenv's are looked at too), with amfast's
# extension built in place for it beside the suite's.  No such Python: said, and skipped.
DJANGO_CURRENT ?= django>=6.1,<6.2
DJANGO_VENV := .venv-django-current
DJANGO_VPY := $(DJANGO_VENV)/bin/python
DJANGO_PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 \
	  $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
	  2>/dev/null && { command -v $$p; break; }; done)

$(DJANGO_VENV)/.installed: pyproject.toml setup.py
	@test -n "$(DJANGO_PYTHON)"
	test -x $(DJANGO_VPY) || $(DJANGO_PYTHON) -m venv $(DJANGO_VENV)
	$(DJANGO_VPY) -m pip install -q --upgrade pip
	$(DJANGO_VPY) -m pip install -q '$(DJANGO_CURRENT)' 'pytest>=7' 'pytest-django>=4.9' \
	  setuptools 'Cython>=3.0' 'webob>=1.8' 'python-memcached>=1.59' 'waitress>=2.1' \
	  'uvicorn>=0.30' 'uvloop>=0.19' 'httptools>=0.6'
	touch $@

.PHONY: test-django-current
test-django-current:
	@if [ -z "$(DJANGO_PYTHON)" ]; then \
	  echo "SKIPPED: the Django tests under Django's current release ($(DJANGO_CURRENT)):" \
	       "no Python >= 3.12 found (set DJANGO_PYTHON)"; \
	else $(MAKE) --no-print-directory django-current-run; fi

.PHONY: django-current-run
django-current-run: $(DJANGO_VENV)/.installed
	$(DJANGO_VPY) setup.py -q build_ext --inplace -j 2
	$(DJANGO_VPY) -m pytest -q tests/django_tests

# Long fuzzing runs (docs/security.md): each of FUZZ_TARGETS in turn for FUZZ_SECONDS under
# atheris, from the seed corpus that fuzz/make_corpus.py writes into fuzz/corpus/<target>
# (git-ignored; inputs that find new coverage are added there).  A crash, a hang (over 10 s)
# or a memory blow-up (over 2 GB) stops the run and leaves the input in fuzz/corpus/artifacts/.
# `make test` runs a bounded version (tests/test_fuzz_bounded.py).  FUZZ_ARGS adds libFuzzer
# options, e.g. FUZZ_ARGS=-seed=1.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= amf0 amf3 packet differential server
FUZZ_ARGS ?=

fuzz: build
	$(VPY) fuzz/make_corpus.py
	mkdir -p fuzz/corpus/artifacts
	@for target in $(FUZZ_TARGETS); do \
	  echo "== fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  $(VPY) fuzz/run.py $$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
	    -artifact_prefix=fuzz/corpus/artifacts/$$target- $(FUZZ_ARGS) fuzz/corpus/$$target \
	    || exit 1; \
	done

# The benchmarks also measure py3amf built with its Cython extension: it is installed into
# bench/.py3amf-cython and put first on PYTHONPATH for the benchmarks only, so .venv (and the
# tests) keep the pure-Python py3amf.
.PHONY: py3amf-cython
py3amf-cython: install
	PYTHONPATH=bench/.py3amf-cython $(VPY) -c 'import cpyamf.amf3' 2>/dev/null || \
	  $(VPY) -m pip install --upgrade --no-deps --no-cache-dir --target bench/.py3amf-cython \
	    --no-binary py3amf 'py3amf==0.9.1' --config-settings=py3amf.ext.cython=1

# BENCH_ARGS="--quick --datasets a,b" passes flags.
bench: build py3amf-cython
	PYTHONPATH=bench/.py3amf-cython $(VPY) bench/bench_codec.py $(BENCH_ARGS)

# RPC echo calls per second over HTTP (bench/bench_rpc.py): amfast's hello example beside
# py3amf's WSGI gateway (with its Cython extension, installed as for `bench`) and a bare WSGI
# app (the ceiling), each under waitress in a subprocess; about two minutes.
# BENCH_ARGS="--quick" for a short run.
.PHONY: bench-rpc
bench-rpc: build py3amf-cython
	$(VPY) bench/bench_rpc.py $(BENCH_ARGS)

# Messaging latency and fan-out throughput (bench/bench_messaging.py): servers in subprocesses
# on 127.0.0.1, about two minutes.  BENCH_ARGS="--quick" for fewer samples, "--profile" to
# print where the server's time goes even when the targets are met.
bench-messaging: build memcached redis
	$(VPY) bench/bench_messaging.py $(BENCH_ARGS)

# Push at scale (bench/bench_push.py): 1,000 to 10,000 streaming, then long-polling,
# subscribers on one server process (the ASGI channels under uvicorn beside a bare asyncio
# ceiling, and the WSGI channels on the threaded development server), one publisher
# broadcasting for 30 s; about a quarter of an hour.  BENCH_ARGS="--quick" for N=1,000 and 5 s.
.PHONY: bench-push
bench-push: build
	$(VPY) bench/bench_push.py $(BENCH_ARGS)

# The push soak (bench/bench_push.py --soak), by hand, not part of `make test`: 2,000
# streaming and 2,000 long-polling subscribers on the ASGI channel set, 20 of each kind
# leaving and 20 joining every second, one broadcast a second for SOAK_SECONDS; prints RSS,
# deliveries with gaps and repeats, held slots (ChannelSet.holding) and event-loop lag.
SOAK_SECONDS ?= 600
.PHONY: soak-push
soak-push: build
	$(VPY) bench/bench_push.py --soak --seconds $(SOAK_SECONDS) $(BENCH_ARGS)

# ORM rows on the wire (bench/bench_sqlalchemy.py): 1,000 SQLAlchemy rows with a loaded
# one-to-many relation encoded by SaClassDef, by py3amf's SQLAlchemy adapter (with its Cython
# extension, installed as for `bench`) and by a plain ClassDef; under a minute.
# BENCH_ARGS="--quick" for fewer rounds.
.PHONY: bench-sqlalchemy
bench-sqlalchemy: build py3amf-cython
	PYTHONPATH=bench/.py3amf-cython $(VPY) bench/bench_sqlalchemy.py $(BENCH_ARGS)

# Django model instances on the wire (bench/bench_django.py): 1,000 instances with a loaded
# foreign key encoded by DjangoClassDef, by py3amf's Django adapter (with its Cython
# extension, installed as for `bench`; with a small shim where current Django lacks what the
# adapter calls) and by a plain ClassDef; under a minute.  BENCH_ARGS="--quick" for fewer rounds.
.PHONY: bench-django
bench-django: build py3amf-cython
	PYTHONPATH=bench/.py3amf-cython $(VPY) bench/bench_django.py $(BENCH_ARGS)

clean:
	rm -rf build amfast/ext/*.c amfast/ext/*.so amfast/ext/*.html

# End-to-end tests with real clients (tests/e2e): a Haxe SWF in Ruffle and an Apache Royale
# app, in Debian's headless Chromium.  Debian's haxe and chromium are installed when missing;
# Ruffle, playwright-core and Royale go into tests/e2e/node_modules (npm ci, pinned by
# package-lock.json); the clients are built into tests/e2e/.build and rebuilt only when their
# sources change.  No browser is downloaded: playwright-core drives /usr/bin/chromium.
E2E := tests/e2e
E2E_BUILD := $(E2E)/.build
E2E_NPM_STAMP := $(E2E)/node_modules/.package-lock.json
E2E_SWF := $(E2E_BUILD)/haxe/client.swf

.PHONY: e2e e2e-apt e2e-clients

e2e-apt:
	@missing=""; \
	command -v haxe >/dev/null 2>&1 || missing="$$missing haxe"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(E2E_NPM_STAMP): $(E2E)/package.json $(E2E)/package-lock.json | e2e-apt
	cd $(E2E) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(E2E_SWF): $(E2E)/haxe/Main.hx | e2e-apt
	mkdir -p $(dir $@)
	haxe -cp $(E2E)/haxe -swf $@ -swf-version 11 -main Main

# Royale's compiler (Java) turns the ActionScript app into JavaScript: bin/js-release/index.html.
ROYALE := $(E2E)/node_modules/@apache-royale/royale-js/royale-asjs
E2E_ROYALE := $(E2E_BUILD)/royale/bin/js-release/index.html
E2E_ROYALE_SRC := $(wildcard $(E2E)/royale/src/*.as $(E2E)/royale/src/*/*.as)
# The ActionScript classes amfast.codegen writes for the e2e server's mapped classes
# (server.py: codegen_mapper); the app registers them by their [RemoteClass] metadata.
E2E_GENERATED := $(E2E_BUILD)/generated-as3
E2E_GENERATED_STAMP := $(E2E_GENERATED)/.generated

$(E2E_GENERATED_STAMP): $(E2E)/server.py amfast/codegen.py amfast/class_def/code_generator.py \
                        amfast/class_def/wire_types.py | build
	rm -rf $(E2E_GENERATED)
	$(VPY) -m amfast.codegen --lang as3 --royale tests.e2e.server:codegen_mapper -o $(E2E_GENERATED)
	touch $@

$(E2E_ROYALE): $(E2E_ROYALE_SRC) $(E2E_GENERATED_STAMP) $(E2E_NPM_STAMP)
	rm -rf $(E2E_BUILD)/royale && mkdir -p $(E2E_BUILD)
	$(ROYALE)/js/bin/mxmlc -targets=JSRoyale -source-path+=$(E2E)/royale/src \
	  -source-path+=$(E2E_GENERATED) -keep-as3-metadata+=RemoteClass \
	  -js-library-path+=$(ROYALE)/frameworks/js/libs/MXRoyaleBaseJS.swc \
	  -js-output=$(E2E_BUILD)/royale $(E2E)/royale/src/Main.as > $(E2E_BUILD)/royale-build.log 2>&1 \
	  || { cat $(E2E_BUILD)/royale-build.log; exit 1; }
	@tail -n 2 $(E2E_BUILD)/royale-build.log

e2e-clients: e2e-apt $(E2E_NPM_STAMP) $(E2E_SWF) $(E2E_ROYALE)

e2e: build e2e-apt e2e-clients
	AMFAST_E2E=1 $(VPY) -m pytest $(E2E) $(E2E_ARGS)
