#!/usr/bin/env bash
# The main job on the embedded default: no AWS account, nothing to start.
set -uo pipefail
cd "$(dirname "$0")/.."
rollgate=target/debug/rollgate
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Validate the reference plans (from the seed runbooks)" "rollgate validate examples/*.yaml"
$rollgate validate examples/*.yaml || exit 1

step "A broken plan: every problem at once, each with its path and a fix" "rollgate validate examples/invalid/broken-plan.yaml"
$rollgate validate examples/invalid/broken-plan.yaml && { echo "expected the broken plan to fail"; exit 1; }

step "Release evidence that is ready: passes with a warning and a recorded override" \
  "rollgate check examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-ready.yaml --at 2025-11-14T08:00:00Z"
$rollgate check examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-ready.yaml --at 2025-11-14T08:00:00Z || exit 1

step "The same release a day earlier: blocked, and every line says why" \
  "rollgate check examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-not-ready.yaml --at 2025-11-13T08:00:00Z"
$rollgate check examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-not-ready.yaml --at 2025-11-13T08:00:00Z \
  && { echo "expected the release to be blocked"; exit 1; }
mkdir -p target/demo
step "A healthy canary, simulated on a virtual clock (same code as the deployed functions)" \
  "rollgate simulate examples/greenlang-production-deploy.yaml --scenario examples/scenarios/greenlang-production-deploy.healthy.yaml --chart target/demo/healthy.svg"
$rollgate simulate examples/greenlang-production-deploy.yaml --scenario examples/scenarios/greenlang-production-deploy.healthy.yaml \
  --chart target/demo/healthy.svg --expect promoted || exit 1

step "A failing canary: the error rate spikes at 50% and the release rolls back at once" \
  "rollgate simulate examples/greenlang-production-deploy.yaml --scenario examples/scenarios/greenlang-production-deploy.failing.yaml --chart target/demo/failing.svg"
$rollgate simulate examples/greenlang-production-deploy.yaml --scenario examples/scenarios/greenlang-production-deploy.failing.yaml \
  --chart target/demo/failing.svg --expect rolled_back || exit 1

step "What one release costs on AWS, and where the money goes (measured in the simulator, priced at list prices)" \
  "rollgate cost examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-ready.yaml --per-month 40"
$rollgate cost examples/greenlang-production-deploy.yaml -e examples/evidence/greenlang-release-ready.yaml --per-month 40 || exit 1

echo
echo "demo finished: the plans validate, the broken plan and the unready release were stopped with reasons,"
echo "the healthy canary was promoted and the failing one rolled back (charts: target/demo/*.svg),"
echo "and a release of the production plan costs what the last table says."
