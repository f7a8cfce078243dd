#!/bin/bash
# What a corpus with no phrase costs: `swapvec tokenize` on a corpus with the code of an earlier commit (a git
# worktree, first on PYTHONPATH) and with this one, alternately, 3 times each; conf/local.yaml as the defaults.
#   git worktree add /tmp/before <commit> && bench/no_phrase_cost.sh /tmp/before/lib /work/data/gcide_x4.txt
cd "$(dirname "$0")/.."
for i in 1 2 3; do
  for v in old new; do
    if [ $v = old ]; then LIB=$1; else LIB=lib; fi
    OUT=/tmp/no_phrase_cost_$v; rm -rf $OUT
    s=$(date +%s.%N)
    PYTHONPATH=$LIB .venv/bin/python -m swapvec.cli tokenize --set input.path="$2" --set output.path=$OUT \
      --set output.format=parquet --set log.progress=false > /tmp/no_phrase_cost_$v.log 2>&1
    rc=$?
    e=$(date +%s.%N)
    echo "$v $i $(echo "$e - $s" | bc) rc=$rc"
  done
done
