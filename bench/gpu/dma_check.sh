#!/usr/bin/env bash
# Runs `aitrace dma` around a PyTorch job that copies pinned host memory to a GPU, with the
# kernel's own trace buffer recording the same events as ground truth. For GPU hosts only
# (not part of the test suite). Usage: bench/gpu/dma_check.sh AITRACE_BINARY [PYTHON]
set -euo pipefail
aitrace=$1
python=${2:-python3}
out=${OUT:-/tmp/aitrace-dma-check}
mkdir -p "$out"
T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs nodev $T
echo 262144 > $T/buffer_size_kb
echo > $T/trace
cats=()
for c in dma iommu swiotlb dma_fence; do [[ -d $T/events/$c ]] && cats+=("$c"); done
for c in "${cats[@]}"; do echo 1 > $T/events/$c/enable; done
"$aitrace" dma --json -o "$out/dma.json" -- "$python" -c '
import torch
x = torch.empty(256 << 20, dtype=torch.uint8).pin_memory()
y = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
for _ in range(20):
    y.copy_(x, non_blocking=True)
torch.cuda.synchronize()
# A small training step too: kernels, allocator, fences if the driver uses them.
m = torch.nn.Linear(4096, 4096).cuda()
opt = torch.optim.SGD(m.parameters(), lr=0.01)
for _ in range(20):
    loss = m(torch.randn(512, 4096, device="cuda")).square().mean()
    opt.zero_grad(); loss.backward(); opt.step()
torch.cuda.synchronize()
print("torch job done")
' 2> "$out/aitrace.stderr"
for c in "${cats[@]}"; do echo 0 > $T/events/$c/enable; done
grep -v '^#' $T/trace | grep -oE ' (dma|iommu|swiotlb|dma_fence)?[a-z_]*: ' | sort | uniq -c > "$out/tracefs_counts.txt" || true
cp $T/trace "$out/trace.txt" 2>/dev/null || true
"$aitrace" dma -d 1 > "$out/dma_idle.txt" 2>&1 || true
echo "--- tracefs event counts"; cat "$out/tracefs_counts.txt"
echo "--- aitrace stderr"; cat "$out/aitrace.stderr"
echo "--- aitrace dma.json (head)"; head -c 6000 "$out/dma.json"
