#!/usr/bin/env bash
# Issue 8's GPU benchmark, in one call on the GPU machine: w2v's torch engine
# (fused kernel, its Hogwild variant, libtorch ops) against the PyTorch
# SparseAdam baseline (benches/baseline_torch.py) on the same shards and GPU.
#
# Here (build machine):  bash benches/gpu.sh pack     # fills .gpu/ (git-excluded)
# There (GPU machine):   bash benches/gpu.sh run [quick]   # results under $OUT
#
# `pack` copies the stripped binaries, the corpus and the eval sets into
# .gpu/, which the device tool carries. `run` writes gpu.txt, bandwidth.json,
# train-*.jsonl (progress lines: pairs/s over time), model manifests,
# eval-*.json and results.jsonl under $OUT, and prints a table last.
set -uo pipefail
cd "$(dirname "$0")/.."
G=${G:-.gpu}
WHAT=${1:-run}

if [[ $WHAT == pack ]]; then
  set -e
  mkdir -p $G
  grep -qx '/.gpu/' "$(git rev-parse --git-path info/exclude)" 2>/dev/null ||
    echo '/.gpu/' >>"$(git rev-parse --git-path info/exclude)"
  cargo build --release --workspace
  strip -o $G/w2v target/release/w2v
  strip -o $G/w2v-torch target/release/w2v-torch
  tb=$(cargo test --release -p w2v-torch --lib --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="w2v_torch" and m["profile"]["test"]: print(m["executable"])' | tail -1)
  strip -o $G/w2v-torch-tests "$tb"
  cp ../shared/corpus/ru_lit.txt.zst ../shared/eval/ru_simlex965.tsv ../shared/eval/hj.csv $G/
  du -sh $G
  exit 0
fi

OUT=${OUT:-bench-out/gpu}
mkdir -p "$OUT"
W=/tmp/w2v-gpu
mkdir -p $W
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH=$TL
# w2v runs every stage and hands torch training to the w2v-torch beside it.
B=$G/w2v
RES=$OUT/results.jsonl
log() { echo "$1" | tee -a "$RES"; }
evaljson() { local j; if j=$($B eval --model "$1" --pairs $G/ru_simlex965.tsv $G/hj.csv --json --progress silent 2>"$OUT/eval-err.txt"); then python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' <<<"$j"; else echo null; fi; }
summary() { python3 -c "import json;m=json.load(open('$1/model.manifest.json'))['summary'];print(json.dumps({k:m.get(k) for k in ['engine','vocab_size','total_pairs','seconds','pairs_per_s','input_wait_s','final_loss','corpus_tokens']}|{'epoch_pairs_per_s':[round(e['pairs_per_s']) for e in m['epochs']]}))"; }

train() { # name shards epochs extra...
  local name=$1 sh=$2 ep=$3; shift 3
  $B train --shards $W/$sh -o $W/model-$name --engine torch --device ${DEV:-cuda} --epochs "$ep" --progress json --checkpoint-every-secs 0 "$@" 2>"$OUT/train-$name.jsonl" >/dev/null
  local rc=$?
  if [[ $rc != 0 ]]; then tail -3 "$OUT/train-$name.jsonl"; log "{\"run\": \"$name\", \"rc\": $rc}"; return; fi
  cp $W/model-$name/model.manifest.json "$OUT/manifest-$name.json"
  log "{\"run\": \"$name\", \"args\": \"$sh epochs $ep $*\", \"summary\": $(summary $W/model-$name)}"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
nproc

# Issue 5's ops-path study: what keeps the libtorch-ops step (and so the
# torch CPU path) at word2vec.c's quality. Gensim's settings (min_count 5,
# 5 epochs), one seed, the fused kernel as the same-run reference; then a grid
# of batch size x --row-cap (GRID="batch:cap[:lr[:seed]] ..."), and CPU runs of the
# torch ops path (CPU="batch:cap ...", on this machine's cores). DEFAULTS="1 2"
# runs the ops path at its default settings for those seeds; TESTS=1 runs
# the engine's unit tests first.
if [[ $WHAT == rowcap ]]; then
  $B prep $G/ru_lit.txt.zst -o $W/data/corpus.txt --progress silent
  $B pairs --corpus $W/data/corpus.txt --vocab-dir $W/vocab5 --shards-dir $W/shards5 --min-count 5 --force --progress silent
  q() { # name extra...
    local name=$1; shift
    train "$name" shards5 5 --seed ${SEED:-1} "$@"
    [[ -f $W/model-$name/input.npy ]] && log "{\"run\": \"$name\", \"eval\": $(evaljson $W/model-$name)}"
  }
  [[ ${FUSED:-1} == 1 ]] && q fused
  [[ ${TESTS:-0} == 1 ]] && $G/w2v-torch-tests --test-threads 1 2>&1 | tail -4
  # The ops path at its defaults (batch, --row-cap), over SEEDS.
  for s in ${DEFAULTS-}; do SEED=$s q ops-default-s$s --cuda-kernel ops; done
  for g in ${GRID-4096:0 4096:4 4096:16 4096:64 16384:4 16384:16 16384:64 262144:16 262144:64 262144:256}; do
    IFS=: read -r b c lr seed <<<"$g"
    SEED=${seed:-${SEED:-1}} q "ops-b$b-c$c${lr:+-lr$lr}${seed:+-s$seed}" --cuda-kernel ops --batch-size "$b" --row-cap "$c" ${lr:+--lr $lr}
  done
  for g in ${CPU-}; do
    IFS=: read -r b c <<<"$g"
    DEV=cpu q "cpu-b$b-c$c" --batch-size "$b" --row-cap "$c"
  done
  python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = {}
for r in rows:
    runs.setdefault(r["run"], {}).update(r)
print(f"{'run':<28}{'pairs/s':>12}{'seconds':>9}{'simlex':>9}{'hj':>9}")
for name, r in runs.items():
    s = r.get("summary") or {}
    ev = {e["file"].split("/")[-1]: e["spearman"] for e in r.get("eval", {}).get("pairs", [])}
    print(f"{name:<28}{s.get('pairs_per_s') or 0:>12,.0f}{s.get('seconds') or 0:>9.1f}"
          f"{ev.get('ru_simlex965.tsv', float('nan')):>9.4f}{ev.get('hj.csv', float('nan')):>9.4f}")
PY
  WHAT=bundle
fi

# Issue 17: the shard path (fused kernel) against the stream path (the stream
# kernel draws subsampling, windows and negatives on the device from
# vocab/corpus.ids), end to end (whole process, start to model written), in
# one call; FULL-W2V (.gpu/fullw2v/run.sh, built by the lead's helper on the
# build machine) on the same corpus and settings when it is there.
#   STREAM_SEEDS="1 2 3"  quality runs (gensim's settings: min_count 5, 5 epochs)
#   LONG=20               epochs of the throughput runs (min_count 3)
if [[ $WHAT == stream ]]; then
  [[ ${TESTS:-1} == 1 ]] && $G/w2v-torch-tests --test-threads 1 2>&1 | grep -E "^test |test result" | tee "$OUT/tests.txt" | tail -16
  $B prep $G/ru_lit.txt.zst -o $W/data/corpus.txt --progress silent
  for mc in 3 5; do
    $B pairs --corpus $W/data/corpus.txt --vocab-dir $W/vocab$mc --shards-dir $W/shards$mc --min-count $mc --force --progress silent
  done
  log "{\"run\": \"disk\", \"shards5_bytes\": $(du -sb $W/shards5 | cut -f1), \"corpus_ids_bytes\": $(stat -c %s $W/vocab5/corpus.ids), \"tokens\": $(python3 -c "import json;print(json.load(open('$W/vocab5/vocab.manifest.json'))['summary'].get('n_tokens',0))")}"
  e2e() { # name input-flag input epochs extra...
    local name=$1 flag=$2 in=$3 ep=$4; shift 4
    local t0; t0=$(date +%s.%N)
    $B train $flag $in -o $W/model-$name --engine torch --device cuda --epochs "$ep" --progress json --checkpoint-every-secs 0 --force "$@" 2>"$OUT/train-$name.jsonl" >/dev/null
    local rc=$? wall; wall=$(python3 -c "print(round($(date +%s.%N)-$t0,3))")
    if [[ $rc != 0 ]]; then tail -3 "$OUT/train-$name.jsonl"; log "{\"run\": \"$name\", \"rc\": $rc}"; return; fi
    log "{\"run\": \"$name\", \"wall_s\": $wall, \"epochs\": $ep, \"summary\": $(summary $W/model-$name), \"loss_pairs\": $(python3 -c "import json;print(sum(e['loss_pairs'] for e in json.load(open('$W/model-$name/model.manifest.json'))['summary']['epochs']))")}"
  }
  # Throughput: LONG epochs on the 130k-word vocabulary, each path twice, interleaved.
  for r in 1 2; do
    e2e shards-mc3-r$r --shards $W/shards3 ${LONG:-20}
    e2e stream-mc3-r$r --corpus $W/vocab3/corpus.ids ${LONG:-20}
  done
  # Quality and end to end at gensim's settings, three seeds each.
  for seed in ${STREAM_SEEDS:-1 2 3}; do
    e2e q-shards-s$seed --shards $W/shards5 5 --seed $seed
    log "{\"run\": \"q-shards-s$seed\", \"eval\": $(evaljson $W/model-q-shards-s$seed)}"
    e2e q-stream-s$seed --corpus $W/vocab5/corpus.ids 5 --seed $seed
    log "{\"run\": \"q-stream-s$seed\", \"eval\": $(evaljson $W/model-q-stream-s$seed)}"
  done
  if [[ -x $G/fullw2v/run.sh ]]; then
    for seed in ${FULL_SEEDS:-1}; do
      t0=$(date +%s.%N)
      bash $G/fullw2v/run.sh $W/data/corpus.txt $W/full-s$seed.txt 128 5 5 1e-3 5 5 0.025 16 >"$OUT/fullw2v-s$seed.txt" 2>&1
      rc=$?; wall=$(python3 -c "print(round($(date +%s.%N)-$t0,3))")
      tail -5 "$OUT/fullw2v-s$seed.txt"
      if [[ $rc == 0 ]] && $B import $W/full-s$seed.txt -o $W/model-full-s$seed --force --progress silent; then
        log "{\"run\": \"fullw2v-s$seed\", \"wall_s\": $wall, \"eval\": $(evaljson $W/model-full-s$seed)}"
      else
        log "{\"run\": \"fullw2v-s$seed\", \"rc\": $rc, \"wall_s\": $wall}"
      fi
    done
  else
    log '{"run": "fullw2v", "skipped": ".gpu/fullw2v/run.sh not packed"}'
  fi
  python3 benches/stream_gpu_table.py "$RES" | tee "$OUT/table.txt"
  WHAT=bundle
fi

if [[ $WHAT != bundle ]]; then
# 1. The engine's unit tests, the fused kernel against the f64 oracle on CUDA among them.
$G/w2v-torch-tests --test-threads 1 2>&1 | tail -10

# 2. The device's copy bandwidth (bytes read + written), the ceiling for this memory-bound step.
python3 - <<'EOF' | tee "$OUT/bandwidth.json"
import json, torch
x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
ts = []
for _ in range(10):
    s.record(); y.copy_(x); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
print(json.dumps({"copy_bytes_rw": 2 * x.numel(), "median_s": ts[5], "tb_per_s": round(2 * x.numel() / ts[5] / 1e12, 3), "device": torch.cuda.get_device_name(0)}))
EOF

# 3. Data: ru_lit normalised; vocab >= 100k (min_count 3) for speed, min_count 5 for quality (gensim's settings).
t0=$(date +%s.%N)
$B prep $G/ru_lit.txt.zst -o $W/data/corpus.txt --progress silent
for mc in 3 5; do
  $B pairs --corpus $W/data/corpus.txt --vocab-dir $W/vocab$mc --shards-dir $W/shards$mc --min-count $mc --force --progress silent
done
echo "data ready in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"

# 4. The kernel alone (CUDA events, no host pipeline), per variant.
[[ ${KERNEL:-1} == 1 ]] && python3 benches/kernel_gpu.py $W/shards3 $W/vocab3 2>&1 | tee "$OUT/kernel.jsonl" | tail -9

# 5. Throughput end to end: 20 epochs over the 5 draws of the 130k-word shards.
train fused-mc3 shards3 20
[[ ${BATCHES:-1} == 1 ]] && train fused-mc3-b4m shards3 10 --batch-size 4194304
train ops-mc3 shards3 1 --cuda-kernel ops

# 6. The baseline on the same shards and GPU (3 epochs: steady state after warm-up).
PYTHONUNBUFFERED=1 python3 benches/baseline_torch.py $W/shards3 $W/vocab3 --device cuda --epochs 3 2>&1 | tee "$OUT/baseline.jsonl" | tail -1
log "{\"run\": \"baseline\", \"summary\": $(tail -1 "$OUT/baseline.jsonl"), \"shard_pairs_per_s\": $(python3 -c "import json;print([json.loads(l)['pairs_per_s'] for l in open('$OUT/baseline.jsonl') if 'shard' in l])")}"

# 7. Quality at gensim's settings (min_count 5, 5 epochs): three seeds of the fused kernel, and ops.
for seed in ${SEEDS:-1 2 3}; do
  train q-fused-s$seed shards5 5 --seed $seed
  log "{\"run\": \"q-fused-s$seed\", \"eval\": $(evaljson $W/model-q-fused-s$seed)}"
done
train q-ops shards5 5 --cuda-kernel ops
[[ -f $W/model-q-ops/input.npy ]] && log "{\"run\": \"q-ops\", \"eval\": $(evaljson $W/model-q-ops)}"

python3 - "$RES" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bl = next((r for r in rows if r.get("run") == "baseline" and "summary" in r), None)
base = None
if bl:
    sh = sorted(bl.get("shard_pairs_per_s") or [bl["summary"]["pairs_per_s"]])
    base = sh[len(sh) // 2]
print(f"{'run':<18}{'pairs/s':>14}{'epoch median':>14}{'wait %':>8}{'vs baseline':>12}")
for r in rows:
    s = r.get("summary")
    if not s or "epoch_pairs_per_s" not in s:
        continue
    ep = sorted(s["epoch_pairs_per_s"]); med = ep[len(ep) // 2] if ep else 0
    wait = 100 * s["input_wait_s"] / max(s["seconds"], 1e-9)
    print(f"{r['run']:<18}{s['pairs_per_s']:>14,.0f}{med:>14,.0f}{wait:>8.1f}{(med / base if base else 0):>12.1f}")
print("baseline pairs/s (median shard)", base)
for r in rows:
    if "eval" in r:
        print(r["run"], [(e["file"].split("/")[-1], round(e["spearman"], 4), round(e["coverage"], 3)) for e in r["eval"].get("pairs", [])])
EOF

fi

# The device tool brings back at most 8 files: bundle them.
if [[ ${BUNDLE:-0} == 1 ]]; then
  tar czf /tmp/gpu-results.tgz -C "$OUT" . && find "$OUT" -mindepth 1 -delete && mv /tmp/gpu-results.tgz "$OUT/"
fi
