//! Aggregation rules: hand-checked examples, determinism.
