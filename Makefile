# rollgate's verbs. The two that matter on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
MOTO_PORT ?= 5055
STAMP := $(VENV)/.installed-$(shell cat tools/requirements.txt tools/infra-requirements.txt tools/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: demo test local-release tools emulator emulator-stop build package schema lint lint-infra fmt clean bench fuzz fuzz-build fuzz-smoke

## demo: the main job on the embedded default (no AWS account): validate the reference plans,
## show a broken plan's errors, and judge sample evidence.
demo: build
	@scripts/demo.sh

## test: every test, unit and integration, against the emulator it starts itself.
test:
	@scripts/test.sh

## local-release: one real release on the local stack (emulator, the functions under cargo lambda,
## the state machine from infra/), driven through the CLI: start, approve, watch, history, verify.
local-release: tools
	@scripts/local-release.sh

## tools: the project-local virtualenv with the emulator (and later the AWS build tools), and
## Chromium (Debian's package), which the report page's rendering test uses.
tools: $(STAMP)
	@test -x /usr/bin/chromium || { echo "installing chromium (apt-get)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/bin/chromium || { echo "chromium is missing and could not be installed (apt-get, as root)"; exit 1; }

$(STAMP): tools/requirements.txt tools/infra-requirements.txt tools/package.json tools/package-lock.json
	@test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt -r tools/infra-requirements.txt
	@cd tools && npm ci --no-audit --no-fund --silent
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "tools installed in $(VENV) and tools/node_modules"

## lint-infra: the state machine and the SAM template, checked offline.
lint-infra: tools
	@tools/node_modules/.bin/asl-validator --json-path infra/statemachine/release.asl.json
	@$(VENV)/bin/cfn-lint infra/template.yaml && echo "✓ cfn-lint: infra/template.yaml"
	@AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline SAM_CLI_TELEMETRY=0 \
		$(VENV)/bin/sam validate --lint --template-file infra/template.yaml --region us-east-1

## emulator / emulator-stop: run the AWS-compatible emulator on 127.0.0.1:$(MOTO_PORT).
emulator: tools
	@MOTO_PORT=$(MOTO_PORT) scripts/emulator.sh start
	@echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$(MOTO_PORT) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"

emulator-stop:
	@MOTO_PORT=$(MOTO_PORT) scripts/emulator.sh stop

build:
	@cargo build --locked --quiet -p rollgate-cli

## package: `sam build`: every function cross-compiled for arm64 (cargo-lambda with zig) into
## .aws-sam/build, ready for `sam deploy --template-file .aws-sam/build/template.yaml`.
package: tools
	@rustup target add aarch64-unknown-linux-gnu >/dev/null
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 		$(VENV)/bin/sam build --template-file infra/template.yaml --beta-features --build-dir .aws-sam/build

## schema: regenerate the checked-in JSON Schema of plan files.
schema:
	@cargo run --quiet -p rollgate-cli -- schema > schema/plan.schema.json

## bench: the time of one full metric check, of validating hostile and reference plans, of a
## whole simulated release, of a backtest of 1,000 releases, and of the weekly review over
## 1,000,000 trail events with its peak memory (criterion prints the figures); then every
## function binary's size (x86_64, and arm64 as the template deploys it), cold start and peak
## memory beside a hello-world Lambda built the same way (bench/), against the targets (exit 1
## when over).
FUNCTIONS := approval-request approval-webhook checklist-validator metric-gate policy-review release-control rollback-notifier traffic-switch
bench: tools
	cargo bench --locked -p rollgate --bench gate_check --bench plans_and_simulation --bench backtest --bench review
	cargo build --release --locked -p rollgate-bench $(addprefix -p ,$(FUNCTIONS))
	@rustup target add aarch64-unknown-linux-gnu >/dev/null
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --locked --lambda-dir target/lambda-arm64 \
		-p rollgate-bench $(addprefix -p ,$(FUNCTIONS))
	target/release/function-footprint --runs 30 --arm64 target/lambda-arm64 --floor target/release/hello-lambda \
		$(addprefix target/release/,$(FUNCTIONS))

## fuzz: every fuzz target (fuzz/, one per entry point: plans in YAML and JSON, evidence and the
## checklist, the Slack webhook, scenarios, the gate judge, the message builders) for
## FUZZ_SECONDS each (default 60), on stable Rust without a sanitizer (the code has no unsafe;
## overflow checks and debug assertions are on). The corpus is fuzz/corpus/<target>/ (only its
## seed-* files are checked in); a crash leaves its input in fuzz/artifacts/<target>/ and fails.
## `make test` replays every corpus and artifact input through the same checks
## (shared/tests/fuzz_corpus.rs), without instrumentation.
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 16384
FUZZ_TARGETS := plan_yaml plan_json checklist slack_webhook scenario judge text
FUZZ_FLAGS := --sanitizer none --debug-assertions

fuzz-build:
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	@cargo fuzz build $(FUZZ_FLAGS)

fuzz: fuzz-build
	@mkdir -p fuzz/target/logs
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
		if cargo fuzz run $(FUZZ_FLAGS) $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -timeout=10 \
			-print_final_stats=1 > fuzz/target/logs/$$t.log 2>&1; then \
			grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' fuzz/target/logs/$$t.log; \
		else \
			tail -n 60 fuzz/target/logs/$$t.log; \
			echo "fuzz target $$t failed: the input is in fuzz/artifacts/$$t/ (log: fuzz/target/logs/$$t.log)"; exit 1; \
		fi; \
	done

## fuzz-smoke: every fuzz target for 10 seconds (not in `make test`: the first build of the fuzz
## targets takes about 40 minutes on a 2-core machine; later ones 2-3 minutes).
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(VENV) .local

## dst: deterministic simulation testing (docs/dst.md): SEEDS seeds (default 100000) of several
## concurrent releases with seeded faults, crashes and zombies, on every core; reports seeds/s,
## simulated releases/s and every invariant's check count. A failing seed prints its replay.
SEEDS ?= 100000
DST_FROM ?= 0
.PHONY: dst dst-mutants
dst:
	@cargo run --locked --quiet --release -p rollgate-dst -- --seeds $(SEEDS) --from $(DST_FROM)

## dst-mutants: each DST invariant catches the bug it guards against: every mutant in
## dst/mutants/mutants.py (the code broken on purpose, in a scratch worktree) must fail SEEDS seeds
## (default 4000; up to ten rounds of them) on its invariant. Seven release builds: about 20
## minutes on 2 cores.
dst-mutants:
	@SEEDS=$(if $(filter command line,$(origin SEEDS)),$(SEEDS),4000) dst/mutants/mutants.py
