#!/usr/bin/env bash
# ci/fuzz.sh - an AFL++ campaign on every fuzz target (`make fuzz`).
#
# Environment: FUZZ_TIME seconds per target (default 180); JOBS parallel afl-fuzz instances
# per target (default 1: one -M main; more add -S secondaries, the first of them built with
# ASan+UBSan); TARGETS to pick targets (default: every fuzz/<target>/driver.c); AFL_CC
# (default afl-clang-fast).
#
# Builds in build-fuzz-afl/: plain/ (AFL instrumentation), cmplog/ (CMPLOG, given to the
# main instance with -c), asan/ (a secondary), replay/ (plain replay binaries with
# ASan+UBSan, for reproducing). Raw campaign output goes to build-fuzz-afl/runs/<target>;
# the minimised corpus (afl-cmin), crashes and hangs land in fuzz/out/<target>/. Prints a
# table and, for each crash, the command that reproduces it. Exits 1 when a crash was found.
# Ends by itself: every afl-fuzz runs with -V FUZZ_TIME under a timeout.
#
# Ends with its caller, too: every child that may run long (cmake, afl-fuzz, afl-cmin, a
# replay) runs in a process group of its own (`grouped`, `start_grouped`: GNU timeout makes
# itself the leader of a new group), and SIGINT, SIGTERM or SIGHUP (Ctrl-C, `timeout`, make
# passing on a SIGTERM) stop every such group, wait for them and exit by the same signal, so
# nothing it started keeps running. Those groups do not get a terminal's Ctrl-C themselves,
# which is why the trap must.
#
# Works from any directory, /tmp included: afl-cmin refuses /tmp and /var/tmp unless
# AFL_ALLOW_TMP is set (its guard against other users' files in a shared /tmp). Every
# directory it is given here lies inside this clone and is created by this script, so the
# variable is set.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FUZZ_TIME=${FUZZ_TIME:-180}
JOBS=${JOBS:-1}
AFL_CC=${AFL_CC:-afl-clang-fast}
bdir=$root/build-fuzz-afl
out=$root/fuzz/out
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_TRY_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_QUIET=1 AFL_ALLOW_TMP=1
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
# Seconds a target costs beyond FUZZ_TIME (afl-fuzz start-up and calibration, afl-cmin,
# hang replays), measured: 8 targets with FUZZ_TIME=20 JOBS=1 took 240 s after the builds,
# 30 s each, on a shared 2-core machine at load 10 (fuzz/README.md). Used only for the
# estimate announced once the builds are done; corrected as targets finish.
PER_TARGET_OVERHEAD=${PER_TARGET_OVERHEAD:-10}
started=$SECONDS

log() { printf 'fuzz: %s\n' "$*" >&2; }

# -- process groups ----------------------------------------------------------------------
groups=()   # leaders (= group IDs) of the groups started and not yet reaped

# start_grouped LIMIT CMD...: starts CMD in the background in a new process group, killed
# after LIMIT seconds (then SIGKILL 10 s later); the group ID is in $last_group.
start_grouped() {
  local limit=$1; shift
  timeout -k 10 "$limit" "$@" &
  last_group=$!
  groups+=("$last_group")
}

# reap_group PGID: waits for the group's leader; returns its status.
reap_group() {
  local g=$1 rc i
  wait "$g"; rc=$?
  for i in "${!groups[@]}"; do [ "${groups[$i]}" = "$g" ] && unset 'groups[i]'; done
  return $rc
}

# grouped LIMIT CMD...: start_grouped, then waits; returns CMD's status (124: timed out).
grouped() {
  start_grouped "$@"
  reap_group "$last_group"
}

# sweep_targets: SIGKILL, by PID, every process still running a fuzz binary of this tree
# (build-fuzz-afl/*/fuzz/fuzz_*) once the afl-fuzz or afl-cmin that ran it has ended.
# AFL++ now and then leaves a persistent-mode child behind when it stops, stopped by its own
# SIGSTOP and orphaned: the fork server runs in a session of its own, so neither a process
# group signal nor the kernel's orphaned-group rule reaches it, and it would stay for ever.
sweep_targets() {
  local link pid n=0
  for link in $(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$bdir/*/fuzz/fuzz_*" \
                  2>/dev/null); do
    pid=${link#/proc/}; pid=${pid%/exe}
    kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
  done
  [ $n -eq 0 ] || log "stopped $n target process(es) that AFL++ left behind"
}

# stop_everything SIGNAL: the trap. SIGTERM to every group still running, 8 s for them to
# end (afl-fuzz stops its fork server and writes its stats), SIGKILL to whatever is left
# and to any target process left behind, then this script exits by the same signal (so
# make reports the interruption).
stop_everything() {
  local sig=$1 g i alive
  trap '' INT TERM HUP          # a second Ctrl-C must not cut the clean-up short
  log "interrupted by SIG$sig after $((SECONDS - started))s: stopping the ${#groups[@]} process group(s) it started"
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
  for ((i = 0; i < 80; i++)); do   # a group is gone once its last member is reaped
    alive=0
    for g in "${groups[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
  for g in "${groups[@]}"; do wait "$g" 2>/dev/null; done
  sweep_targets
  trap - "$sig"
  kill -s "$sig" $$
  exit $((128 + $(kill -l "$sig")))
}
trap 'stop_everything INT' INT
trap 'stop_everything TERM' TERM
trap 'stop_everything HUP' HUP

# first_error LOG [OFFSET]: the line of a tool's log (from byte OFFSET on) that says why it
# failed ("[-] ..." for AFL++, "error" for a compiler), else its last line.
first_error() {
  local text line
  text=$(tail -c +$(( ${2:-0} + 1 )) "$1" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g')
  line=$(grep -m1 -E '^\[-\]|[Ee]rror|PROGRAM ABORT' <<<"$text")
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' <<<"$text" | tail -1)
  printf '%s' "${line:-no output}"
}

if [ -z "${TARGETS:-}" ]; then
  TARGETS=$(for d in fuzz/*/driver.c; do basename "$(dirname "$d")"; done | tr '\n' ' ')
fi

# configure DIR CC [cmake args...]: one build tree.
configure() {
  local dir=$1 cc=$2; shift 2
  CC=$cc grouped 1800 cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" \
    >"$dir.log" 2>&1 ||
    { log "configure $dir failed: $(first_error "$dir.log") (log: $dir.log)"; return 1; }
}

# build DIR TARGET [env...]: builds one fuzz target; a failure skips only that target.
build() {
  local dir=$1 t=$2 from; shift 2
  from=$(stat -c %s "$dir.log" 2>/dev/null || echo 0)
  grouped 1800 env "$@" cmake --build "$dir" --target "fuzz_$t" -j "$(nproc)" >>"$dir.log" 2>&1 ||
    { log "building fuzz_$t in $dir failed: $(first_error "$dir.log" "$from") (log: $dir.log)"
      return 1; }
}

command -v "$AFL_CC" >/dev/null ||
  { log "$AFL_CC not found: AFL++ is not installed (as root: apt-get install -y afl++ clang)"; exit 2; }
mkdir -p "$bdir"
log "building the fuzz targets in $bdir (logs: $bdir/*.log)"
configure "$bdir/plain" "$AFL_CC" -DLB_FUZZ=afl || exit 2
AFL_LLVM_CMPLOG=1 configure "$bdir/cmplog" "$AFL_CC" -DLB_FUZZ=afl || exit 2
[ "$JOBS" -ge 2 ] && { configure "$bdir/asan" "$AFL_CC" -DLB_FUZZ=afl -DLB_SANITIZE=ON || exit 2; }
configure "$bdir/replay" "${CC:-cc}" -DLB_FUZZ=replay -DLB_SANITIZE=ON || exit 2

ready=()
for t in $TARGETS; do
  if build "$bdir/plain" "$t" && build "$bdir/cmplog" "$t" AFL_LLVM_CMPLOG=1 &&
     build "$bdir/replay" "$t" &&
     { [ "$JOBS" -lt 2 ] || build "$bdir/asan" "$t"; }; then
    ready+=("$t")
  else
    log "skipping $t: it does not build"
  fi
done
[ ${#ready[@]} -gt 0 ] || { log "no target builds"; exit 2; }
built=$((SECONDS - started))
log "built in ${built}s; targets: ${ready[*]}; ${FUZZ_TIME}s of fuzzing each with $JOBS instance(s), plus about ${PER_TARGET_OVERHEAD}s per target to start, calibrate and minimise: about $(( ${#ready[@]} * (FUZZ_TIME + PER_TARGET_OVERHEAD) ))s from now"

# seeds TARGET: corpus, regressions and the last minimised corpus, in one directory.
seeds() {
  local t=$1 dir=$bdir/seeds/$1
  rm -rf "$dir" && mkdir -p "$dir"
  for src in "fuzz/$t/corpus" "fuzz/$t/regressions" "$out/$t/corpus"; do
    [ -d "$src" ] && find "$src" -maxdepth 1 -type f ! -name '.*' ! -empty -size -1024k \
      -exec cp -t "$dir" {} + 2>/dev/null
  done
  [ -n "$(ls -A "$dir")" ] || printf 'x' >"$dir/empty-seed"
  echo "$dir"
}

# campaign TARGET: JOBS instances for FUZZ_TIME seconds.
campaign() {
  local t=$1 in run dict=() pids=() i
  in=$(seeds "$t")
  run=$bdir/runs/$t
  rm -rf "$run" && mkdir -p "$run"
  [ -f "fuzz/$t/$t.dict" ] && dict=(-x "fuzz/$t/$t.dict")
  local common=(-V "$FUZZ_TIME" -i "$in" -o "$run" -t 1000 "${dict[@]}")
  start_grouped $((FUZZ_TIME + 120)) afl-fuzz "${common[@]}" -M main \
    -c "$bdir/cmplog/fuzz/fuzz_$t" -- "$bdir/plain/fuzz/fuzz_$t" >"$run/main.log" 2>&1
  pids+=("$last_group:main")
  for ((i = 1; i < JOBS; i++)); do
    local bin=$bdir/plain/fuzz/fuzz_$t
    [ $i -eq 1 ] && bin=$bdir/asan/fuzz/fuzz_$t
    start_grouped $((FUZZ_TIME + 120)) afl-fuzz "${common[@]}" -S "sec$i" -- "$bin" \
      >"$run/sec$i.log" 2>&1
    pids+=("$last_group:sec$i")
  done
  for p in "${pids[@]}"; do
    reap_group "${p%%:*}" ||
      log "afl-fuzz ${p#*:} for $t failed: $(first_error "$run/${p#*:}.log") (log: $run/${p#*:}.log)"
  done
  sweep_targets
}

stat_of() { sed -n "s/^$2 *: *//p" "$1" 2>/dev/null | head -1; }

# collect TARGET: minimise the queue into fuzz/out, save crashes and hangs, print a row.
collect() {
  local t=$1 run=$bdir/runs/$1 dest=$out/$1 execs=0 paths=0 f n
  rm -rf "$dest" "$bdir/queue/$t" && mkdir -p "$dest/crashes" "$dest/hangs" "$bdir/queue/$t"
  for s in "$run"/*/fuzzer_stats; do
    [ -f "$s" ] || continue
    execs=$(awk -v a="$execs" -v b="$(stat_of "$s" execs_per_sec)" 'BEGIN{printf "%.0f", a+b}')
    n=$(stat_of "$s" corpus_count); [ "${n:-0}" -gt "$paths" ] && paths=$n
  done
  for kind in crashes hangs; do
    for f in "$run"/*/"$kind"/id:*; do
      [ -f "$f" ] || continue
      inst=$(basename "$(dirname "$(dirname "$f")")")
      cp "$f" "$dest/$kind/$inst-$(basename "$f" | cut -d, -f1 | tr ':' '_')"
    done
  done
  # Every instance's queue in one directory, with one cp: a process per file cost minutes
  # for a thousand inputs on a loaded machine. The instances' seeds share names (and bytes),
  # and a clash between other entries keeps both (--backup: name.~1~).
  local queued=("$run"/*/queue/id:*)
  [ -f "${queued[0]}" ] && cp --backup=numbered -t "$bdir/queue/$t" -- "${queued[@]}"
  local kept=0
  if [ -n "$(ls -A "$bdir/queue/$t")" ]; then
    AFL_QUIET=1 grouped 1800 afl-cmin -i "$bdir/queue/$t" -o "$dest/corpus" -t 2000 -- \
      "$bdir/plain/fuzz/fuzz_$t" >"$run/cmin.log" 2>&1 ||
      log "afl-cmin failed for $t: $(first_error "$run/cmin.log") (log: $run/cmin.log)"
    sweep_targets
    kept=$(find "$dest/corpus" -type f 2>/dev/null | wc -l)
  fi
  # a hang counts only if the replay binary still runs past 10 s: on a loaded machine AFL++
  # sees slow runs that are not hangs
  mkdir -p "$dest/hangs-unconfirmed"
  for f in "$dest/hangs"/*; do
    [ -f "$f" ] || continue
    grouped 10 "$bdir/replay/fuzz/fuzz_$t" "$f" >/dev/null 2>&1
    [ $? -eq 124 ] || mv "$f" "$dest/hangs-unconfirmed/"
  done
  local crashes hangs
  crashes=$(find "$dest/crashes" -type f | wc -l)
  hangs=$(find "$dest/hangs" -type f | wc -l)
  printf '%-10s %10s %8s %8s %8s %8s\n' "$t" "$execs" "$paths" "$kept" "$crashes" "$hangs" >>"$bdir/table"
  local shown=0 total=$((crashes + hangs))
  for f in "$dest/crashes"/* "$dest/hangs"/*; do
    [ -f "$f" ] || continue
    [ $shown -lt 3 ] &&
      printf '  reproduce: %s %s\n' "${bdir#$root/}/replay/fuzz/fuzz_$t" "${f#$root/}" >>"$bdir/repro"
    shown=$((shown + 1))
  done
  [ $total -gt 3 ] && printf '  ... and %d more in fuzz/out/%s/\n' $((total - 3)) "$t" >>"$bdir/repro"
  [ "$crashes" -gt 0 ] && touch "$bdir/crashed"
  return 0
}

: >"$bdir/table"; : >"$bdir/repro"; rm -f "$bdir/crashed"
done_targets=0
for t in "${ready[@]}"; do
  log "campaign $t (${FUZZ_TIME}s of fuzzing)"
  t0=$SECONDS
  campaign "$t"
  collect "$t"
  done_targets=$((done_targets + 1))
  left=$(( ${#ready[@]} - done_targets ))
  per=$(( (SECONDS - started - built) / done_targets ))
  [ $left -gt 0 ] &&
    log "$t took $((SECONDS - t0))s; $left target(s) left, about $((left * per))s at this pace"
done
log "done in $((SECONDS - started))s: builds ${built}s, ${#ready[@]} target(s) $((SECONDS - started - built))s (FUZZ_TIME=${FUZZ_TIME}, JOBS=${JOBS})"

echo
printf '%-10s %10s %8s %8s %8s %8s\n' target execs/s paths cmin crashes hangs
cat "$bdir/table"
echo "(execs/s: sum over $JOBS instance(s); paths: corpus count of the largest instance;"
echo " cmin: inputs kept by afl-cmin in fuzz/out/<target>/corpus)"
if [ -s "$bdir/repro" ]; then
  echo; echo "Findings (fuzz/out/<target>/crashes, hangs); each replays with ASan+UBSan:"
  cat "$bdir/repro"
  echo "Fix, then keep the input: cp FILE fuzz/<target>/regressions/ (fuzz/README.md)."
  [ -e "$bdir/crashed" ] && exit 1
fi
exit 0
