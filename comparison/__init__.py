"""The measured comparison: one workload, the same faults, against all three patterns; then a report with plots."""
