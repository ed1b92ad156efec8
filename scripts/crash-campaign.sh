#!/usr/bin/env bash
# The kill campaign (issue 10): N SIGKILL cycles of a writer child, spread over both vector
# layouts x L2 / InnerProduct / Cosine x with and without sync_writes, each kill followed by a
# reopen checked against a model (crates/lsm-vec/tests/crash_campaign.rs, `campaign_full`).
# Not run in CI (CI runs the 60-kill `campaign_ci` of the same file with `cargo test`).
#
#   scripts/crash-campaign.sh [N] [SEED]     N kills (default 1000), seed (default 1)
#
# Environment: LSM_VEC_CAMPAIGN_ONLY=<substring> runs only the configurations whose name
# (e.g. "Paged/Cosine/sync") contains it; CAMPAIGN_LOG=<file> keeps the full output there
# (default: a temporary file, whose name is printed).
# Prints the per-configuration lines, the total (kills, ops acknowledged, failures), the wall
# time, and exits non-zero if any configuration failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KILLS="${1:-1000}"
SEED="${2:-1}"
LOG="${CAMPAIGN_LOG:-$(mktemp -t crash-campaign.XXXXXX.log)}"

echo "== building crates/lsm-vec/tests/crash_campaign.rs"
cargo test -p lsm-vec --test crash_campaign --no-run

if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- crates/lsm-vec || commit="$commit + uncommitted changes in crates/lsm-vec"
else
  commit="unknown (not a git checkout)"
fi
echo "== campaign: $KILLS kills, seed $SEED, commit $commit, log $LOG"
start=$(date +%s)
status=0
LSM_VEC_CAMPAIGN_KILLS="$KILLS" LSM_VEC_CAMPAIGN_SEED="$SEED" \
  cargo test -p lsm-vec --test crash_campaign -- --ignored --exact campaign_full --nocapture \
  >"$LOG" 2>&1 || status=$?
end=$(date +%s)

echo "== summary"
grep '^campaign:' "$LOG" || echo "(no campaign lines: see $LOG)"
echo "wall time: $((end - start)) s (including the test binary's start), exit status $status"
if [ "$status" -ne 0 ]; then
  echo "== FAILED; the panics:"
  grep -E "panicked at|^campaign: FAILURE" "$LOG" | head -40 || true
fi
exit "$status"
