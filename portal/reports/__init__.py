"""Reports: the termly impact report, Benchmark 5 and the pupils' counts CSV (issue 4/6)."""
