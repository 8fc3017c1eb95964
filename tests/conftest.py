"""Settings for the whole suite."""
import os

# Answers are compared with fp32 references to 1e-5 in many tests; bf16 inference (chosen on
# CPUs with AMX / AVX512-BF16, core.model.devices) is tested on its own in
# tests/core/model/test_inference_precision.py, so the suite gives the same results everywhere.
os.environ.setdefault("FLEDGE_CPU_BF16", "0")
