#!/bin/sh
# Build closurelogd and the tests that run it (or its threaded modules) with
# ThreadSanitizer in $1 (default build-tsan), run them, and fail on any data
# race report.  The servers the tests start are separate processes whose
# exit status a test does not always look at, so every process writes its
# reports under $1/tsan-reports (log_path) and any file there fails the run.
set -eu
build=${1:-build-tsan}
jobs=${2:-2}
tests="server_test fault_test http_test access_test ratelimit_test allow_test log_test batch_test store_test index_test signer_test edge_test gather_test"
reports="$build/tsan-reports"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCL_SANITIZE=thread ${CMAKE_FLAGS:-}
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target closurelogd $tests
rm -rf "$reports"
mkdir -p "$reports"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$PWD/$reports/report"
export TSAN_OPTIONS
regex="^($(echo $tests | tr ' ' '|'))\$"
status=0
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$jobs" -R "$regex" || status=1
if [ -n "$(ls -A "$reports")" ]; then
	echo "tsan.sh: ThreadSanitizer reports:" >&2
	cat "$reports"/* >&2
	status=1
fi
exit $status
