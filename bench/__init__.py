"""Rondo's benchmarks: speed ratios against baselines measured in the same run (`make bench`)."""
