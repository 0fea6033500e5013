"""The core layer: errors, typed results, strict JSON, atomic files, hashing, tool versions,
the tolerance rule, the cache, progress and signals. It imports nothing of p2o above it."""
