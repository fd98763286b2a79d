#!/bin/bash -eu
# Builds every libFuzzer target of fuzz/ for ClusterFuzzLite or OSS-Fuzz (their
# base-builder sets CC=clang, CFLAGS with the chosen sanitizer, SRC, OUT and WORK) and
# installs each as $OUT/fuzz_<target>, with fuzz_<target>_seed_corpus.zip (its corpus/ and
# regressions/) and fuzz_<target>.dict when the target has one.
#
# The same script runs outside their images (tests/fuzz/test_clusterfuzzlite.py does, with
# the machine's clang): every variable has a default, SRC defaults to this checkout.
# Engine: libFuzzer (ClusterFuzzLite's default); fuzz/CMakeLists.txt's LB_FUZZ=libfuzzer
# adds -fsanitize=fuzzer to the drivers and -fsanitize=fuzzer-no-link to the code under test.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "${SRC:-}/loadbalancer/fuzz" ]; then proj=$SRC/loadbalancer; else proj=$here; fi
: "${CC:=clang}" "${CFLAGS:=-fsanitize=address,undefined -fno-sanitize-recover=undefined -g -O1}"
: "${WORK:=$(mktemp -d)}" "${OUT:=$proj/build-cfl-out}"
export CC CFLAGS
mkdir -p "$OUT"
build=$WORK/build-libfuzzer
cmake -S "$proj" -B "$build" -DLB_FUZZ=libfuzzer -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" >/dev/null
cmake --build "$build" --target fuzz_all -j "$(nproc)"
for exe in "$build"/fuzz/fuzz_*; do
  name=$(basename "$exe")
  target=${name#fuzz_}
  cp "$exe" "$OUT/$name"
  python3 - "$proj/fuzz/$target" "$OUT/${name}_seed_corpus.zip" <<'PY'
import pathlib, sys, zipfile
src, dest = pathlib.Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(dest, "w") as z:
    for sub in ("corpus", "regressions"):
        for f in sorted((src / sub).glob("*")) if (src / sub).is_dir() else []:
            if f.is_file():
                z.write(f, f"{sub}-{f.name}")
PY
  dict=$(ls "$proj/fuzz/$target"/*.dict 2>/dev/null | head -1 || true)
  [ -z "$dict" ] || cp "$dict" "$OUT/$name.dict"
done
echo "build.sh: $(ls "$OUT"/fuzz_* | grep -vc '\.\(zip\|dict\)$') libFuzzer targets in $OUT"
