# Two commands set everything up on a fresh Debian 12 machine, as root:
#   make test   installs what it needs, then runs the whole suite
#   make demo   installs what it needs, then runs the getting-started workflow
PYTHON ?= /usr/bin/python3
APT_PACKAGES = python3-venv busybox-static runc crun tini iproute2 nftables procps psmisc tar gzip docker-registry docker-compose openssh-server
VENV = .venv
UV = .uv/bin/uv
STAMP_APT = .uv/.apt-done

.PHONY: install test demo bench lint typecheck clean-test

$(STAMP_APT):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p .uv && touch $@

$(UV): $(STAMP_APT)
	$(PYTHON) -m venv .uv
	.uv/bin/pip install -q uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

test: install lint
	$(VENV)/bin/python -m pytest -q tests

lint: install
	$(VENV)/bin/ruff check dockyard tests bench
	$(VENV)/bin/ruff format --check dockyard tests bench
	$(VENV)/bin/mypy

demo: install
	bash scripts/demo.sh

# Start-up times are measured with bytecode caches, as users run it.
bench: install
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/python bench/run.py
