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
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FUZZ_TIME=${FUZZ_TIME:-180}
JOBS=${JOBS:-1}
AFL_CC=${AFL_CC:-afl-clang-fast}
bdir=$root/build-fuzz-afl
out=$root/fuzz/out
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_TRY_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_QUIET=1
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1

log() { printf 'fuzz: %s\n' "$*" >&2; }

if [ -z "${TARGETS:-}" ]; then
  TARGETS=$(for d in fuzz/*/driver.c; do basename "$(dirname "$d")"; done | tr '\n' ' ')
fi

# configure DIR CC [cmake args...]: one build tree.
configure() {
  local dir=$1 cc=$2; shift 2
  CC=$cc cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.log" 2>&1 ||
    { log "configure $dir failed (see $dir.log)"; return 1; }
}

# build DIR TARGET [env...]: builds one fuzz target; a failure skips only that target.
build() {
  local dir=$1 t=$2; shift 2
  env "$@" cmake --build "$dir" --target "fuzz_$t" -j "$(nproc)" >>"$dir.log" 2>&1
}

mkdir -p "$bdir"
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
    log "skipping $t: it does not build (see $bdir/*.log)"
  fi
done
[ ${#ready[@]} -gt 0 ] || { log "no target builds"; exit 2; }
log "targets: ${ready[*]}; ${FUZZ_TIME}s each with $JOBS instance(s): about $(( ${#ready[@]} * (FUZZ_TIME + 15) ))s"

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
  timeout -k 10 $((FUZZ_TIME + 120)) afl-fuzz "${common[@]}" -M main \
    -c "$bdir/cmplog/fuzz/fuzz_$t" -- "$bdir/plain/fuzz/fuzz_$t" >"$run/main.log" 2>&1 &
  pids+=($!)
  for ((i = 1; i < JOBS; i++)); do
    local bin=$bdir/plain/fuzz/fuzz_$t
    [ $i -eq 1 ] && bin=$bdir/asan/fuzz/fuzz_$t
    timeout -k 10 $((FUZZ_TIME + 120)) afl-fuzz "${common[@]}" -S "sec$i" -- "$bin" \
      >"$run/sec$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
}

stat_of() { sed -n "s/^$2 *: *//p" "$1" 2>/dev/null | head -1; }

# collect TARGET: minimise the queue into fuzz/out, save crashes and hangs, print a row.
collect() {
  local t=$1 run=$bdir/runs/$1 dest=$out/$1 execs=0 paths=0 f n
  rm -rf "$dest" && mkdir -p "$dest/crashes" "$dest/hangs" "$bdir/queue/$t"
  rm -rf "$bdir/queue/$t"/*
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
  for f in "$run"/*/queue/id:*; do
    [ -f "$f" ] && cp "$f" "$bdir/queue/$t/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f" | cut -d, -f1 | tr ':' '_')"
  done
  local kept=0
  if [ -n "$(ls -A "$bdir/queue/$t")" ]; then
    AFL_QUIET=1 afl-cmin -i "$bdir/queue/$t" -o "$dest/corpus" -t 2000 -- \
      "$bdir/plain/fuzz/fuzz_$t" >"$run/cmin.log" 2>&1 || log "afl-cmin failed for $t (see $run/cmin.log)"
    kept=$(find "$dest/corpus" -type f 2>/dev/null | wc -l)
  fi
  # a hang counts only if the replay binary still runs past 10 s: on a loaded machine AFL++
  # sees slow runs that are not hangs
  mkdir -p "$dest/hangs-unconfirmed"
  for f in "$dest/hangs"/*; do
    [ -f "$f" ] || continue
    timeout 10 "$bdir/replay/fuzz/fuzz_$t" "$f" >/dev/null 2>&1
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
for t in "${ready[@]}"; do
  log "campaign $t (${FUZZ_TIME}s)"
  campaign "$t"
  collect "$t"
done

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
