#!/usr/bin/env bash
# make fuzz: build each decoder's libFuzzer target with clang (ASan + UBSan) and
# run it for KJ_FUZZ_SECONDS (default 30) from its seed corpus. A crash stops
# with the reproducer's path; the corpus grows in build/fuzz/corpus-NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
secs=${KJ_FUZZ_SECONDS:-30}
mkdir -p build/fuzz
flags="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iproto $(pkg-config --cflags msgpack jansson)"
libs="$(pkg-config --libs msgpack jansson) -lm"
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  clang $flags "$src" proto/*.c -o "build/fuzz/$name" $libs
  corpus="build/fuzz/corpus-$name"
  mkdir -p "$corpus"
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  echo "== $name for ${secs}s"
  "build/fuzz/$name" -max_total_time="$secs" -max_len=65536 -artifact_prefix=build/fuzz/ \
    "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) 2>&1 | tail -3
done
