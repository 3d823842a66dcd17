"""`python -m bench`: run the benchmarks (today: the browse page)."""
import sys

from bench.browse import main

sys.exit(main())
