"""Diagnostic of the MD training pairs (benchmarks/RESULTS.md, "The MD chain as the main job"): the relative Nye
loss of velocities from linear laws V = M F (BCC linear law, Me = Ms = M, glide only) on the built-in MD pairs, to
see whether any simple law explains the MD motion better than V = 0 (loss 1).

    MODE=stored|applied|line-tension [FLIP=1] MS=30,100,300 python benchmarks/md_linear_law_scan.py \
        runs/demo/cache/tension.*.h5 runs/demo/cache/compression.*.h5 [1,2,4]   # lags in frames

The caches are those `ddml demo` builds (runs/demo/cache). MODE: the forces of the law: the stored F^DDD, the
applied PK force of the MD stress alone, or the line-tension model; FLIP=1 negates them (a sign check).
"""
import sys
import numpy as np
import torch
from ddml_engine.io.store import SnapshotStore
from ddml_engine.ml.dataset import NyeDataset
from ddml_engine.ml.losses import pair_losses, RelativeLossSettings
from ddml_engine.mobility.bcc import BCCLinearMobility

caches = sys.argv[1:3]
stores = ["ddml_engine/data/md_w_fs/tension.h5", "ddml_engine/data/md_w_fs/compression.h5"]
lags = [int(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else [1, 2, 4]
ds = NyeDataset(caches, k=lags)
print(len(ds), "pairs", ds.skip_summary())
import os
from ddml_engine.forces.local import applied_forces
from ddml_engine.forces.model import make_force_model
from ddml_engine.materials import material
MODE = os.environ.get("MODE", "stored")
LT = make_force_model("line-tension", material("W-FS"))
print("forces:", MODE)
frames = {}
for t, path in enumerate(stores):
    with SnapshotStore(path) as s:
        for k in range(len(s)):
            f = s.read(k)
            forces = f.extra["forces"]
            if MODE == "applied":
                forces = applied_forces(f.network, f.stress)
            elif MODE == "line-tension":
                forces = LT(f.network, f.stress)
            if os.environ.get("FLIP"):
                forces = -forces
            frames[(t, k)] = (f.network, forces)
torch.set_num_threads(2)
for ratio in (1.0,):
    for M in [float(x) for x in os.environ.get('MS', '30,100,300,1000,3000').split(',')]:
        law = BCCLinearMobility(Me=max(M, 1e-9), Ms=max(M, 1e-9) / ratio, Mclimb=1e-9)
        losses = []
        for start in range(0, len(ds), 16):
            idx = list(range(start, min(start + 16, len(ds))))
            batch = ds.batch(idx).to("cpu", torch.float64) if hasattr(ds.batch(idx), "to") else ds.batch(idx)
            vs = []
            for i in idx:
                t, a, b = ds.pairs[i]
                net, forces = frames[(t, a)]
                v = law.velocities(net, forces) if M > 0 else np.zeros_like(net.positions)
                vs.append(torch.as_tensor(v, dtype=torch.float64))
            v = torch.cat(vs)
            assert v.shape[0] == batch.graph.node_features.shape[0], (v.shape, batch.graph.node_features.shape)
            with torch.no_grad():
                losses.append(pair_losses(batch, v, "relative", RelativeLossSettings()).numpy())
        losses = np.concatenate(losses)
        lag = np.array([ds.pairs[i][2] - ds.pairs[i][1] for i in range(len(ds))])
        print(f"Ms ratio {ratio:g}  M {M:7g}: mean loss {losses.mean():.4f}  " +
              "  ".join(f"lag {k}: {losses[lag == k].mean():.4f}" for k in sorted(set(lag))), flush=True)
