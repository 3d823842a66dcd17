"""`python -m bench`: run the benchmarks (the browse page, the matching engine, the progress pages);
`python -m bench matching [region|england]` runs only the matching engine's;
`python -m bench matching-db [--sqlite-only]` only matching a region end to end (database in, proposals stored);
`python -m bench progress [--quick]` only the progress pages';
`python -m bench roster [--sqlite-only]` only the 5,000-row roster import;
`python -m bench load [--quick] [--sqlite-only]` gunicorn under a mix of signed-in users (not in the default run);
`python -m bench alternate REV -- COMMAND` runs COMMAND in turns on an earlier revision and on this checkout."""
import sys

from bench import alternate, browse, load, matching, matching_db, progress, roster_import

if sys.argv[1:2] == ["matching"]:
    sys.exit(matching.main(sys.argv[2:]))
if sys.argv[1:2] == ["matching-db"]:
    sys.exit(matching_db.main(sys.argv[2:]))
if sys.argv[1:2] == ["roster"]:
    sys.exit(roster_import.main(sys.argv[2:]))
if sys.argv[1:2] == ["load"]:
    sys.exit(load.main(sys.argv[2:]))
if sys.argv[1:2] == ["alternate"]:
    sys.exit(alternate.main(sys.argv[2:]))
if sys.argv[1:2] == ["progress"]:
    sys.exit(progress.main(sys.argv[2:]))
sys.exit(max(browse.main(), matching.main([]), matching_db.main([]), progress.main([]), roster_import.main([])))
