# Two commands set everything up on a fresh Debian 12 machine, as root:
#   make test   installs what it needs, then runs the whole suite
#   make demo   installs what it needs, then runs the getting-started workflow
PYTHON ?= /usr/bin/python3
APT_PACKAGES = python3-venv busybox-static runc crun tini iproute2 nftables procps psmisc tar gzip docker-registry docker-compose libseccomp2 gcc libc6-dev openssh-server uidmap slirp4netns passt skopeo fuse-overlayfs
VENV = .venv
UV = .uv/bin/uv
STAMP_APT = .uv/.apt-done

# A static program the tests run inside busybox containers to try syscalls (seccomp, keyrings).
SYSPROBE = tests/helpers/bin/sysprobe

.PHONY: install test demo bench lint typecheck clean-test

# The docker CLI the tests drive is the newest on PATH (tests/conftest.py); where PATH has
# none, Debian's docker.io brings one (CLI 20.10).
DOCKER_CLI_PACKAGE = docker.io
# No service a package ships may start during the install (docker.io's dockerd, above all):
# where the machine has no policy-rc.d, one that refuses every start is in place meanwhile.
POLICY_RC = /usr/sbin/policy-rc.d

$(STAMP_APT): Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v docker >/dev/null 2>&1 || missing="$$missing $(DOCKER_CLI_PACKAGE)"; \
	if [ -n "$$missing" ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		policy=""; \
		if [ ! -e $(POLICY_RC) ]; then \
			policy=$(POLICY_RC); printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; \
		fi; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; status=$$?; \
		[ -z "$$policy" ] || rm -f $$policy; \
		exit $$status; \
	fi
	@mkdir -p .uv && touch $@

$(UV): | $(STAMP_APT)
	$(PYTHON) -m venv .uv
	.uv/bin/pip install -q uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

$(SYSPROBE): tests/helpers/sysprobe.c $(STAMP_APT)
	@mkdir -p $(dir $@)
	gcc -static -O2 -Wall -o $@ $<

test: install lint $(SYSPROBE)
	$(VENV)/bin/python -m pytest -q tests

lint: install
	$(VENV)/bin/ruff check dockyard tests bench
	$(VENV)/bin/ruff format --check dockyard tests bench
	$(VENV)/bin/mypy

demo: install
	bash scripts/demo.sh

# Start-up times are measured with bytecode caches, as users run it.
# LOAD_CYCLES: how many run --rm cycles bench/load.py watches the daemon's RSS over.
bench: install
	env -u PYTHONDONTWRITEBYTECODE $(if $(LOAD_CYCLES),LOAD_CYCLES=$(LOAD_CYCLES)) $(VENV)/bin/python bench/run.py
