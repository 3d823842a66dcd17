"""`python -m bench`: run the benchmarks (the browse page, then the matching engine);
`python -m bench matching [region|england]` runs only the matching engine's."""
import sys

from bench import browse, matching

if sys.argv[1:2] == ["matching"]:
    sys.exit(matching.main(sys.argv[2:]))
sys.exit(max(browse.main(), matching.main([])))
