"""Old code against new, alternated: one command run in turns on an earlier revision and on this checkout.

Both meet the same moments of a machine whose speed drifts: the earlier revision runs in a temporary git worktree.

    .venv/bin/python -m bench alternate 871830e --times 4 -- .venv/bin/python -m bench load --quick --sqlite-only

On this machine the same code's throughput moved by half within minutes (bench/README.md, sessions 13-16): one
run of each tells nothing, and runs of the old code made an hour earlier even less. The pairs go old-new, then
new-old (ABBA), so a steady drift weighs on both alike. The earlier revision is checked out into a temporary
worktree (removed afterwards) with this checkout's `.venv` linked into it, so the command names the same
interpreter in both. Every run's output is kept in a folder (printed at the start); after each run the lines that
match `--grep` are printed, labelled. Exit status 1 if any run exited non-zero.
"""
import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GREP = r"(?i)\bgoal\b|^mix:|bare, alone"


def order(times: int) -> list[tuple[int, str]]:
    """(pair, side) in the order the runs go: old then new, then new then old, and so on."""
    runs = []
    for pair in range(1, times + 1):
        sides = ("old", "new") if pair % 2 else ("new", "old")
        runs += [(pair, side) for side in sides]
    return runs


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def alternate(revision: str, command: list[str], *, times: int, grep: str, out: Path, repo: Path = REPO,
              echo=print) -> list[dict]:
    """Run `command` `times` times in a worktree of `revision` and as often in `repo`, alternated; returns one
    record per run (pair, side, exit status, matched lines, output file)."""
    pattern = re.compile(grep)
    sha = _git("rev-parse", "--verify", f"{revision}^{{commit}}", cwd=repo)
    records = []
    with tempfile.TemporaryDirectory(prefix="encounters-alternate-") as folder:
        old = Path(folder) / "old"
        _git("worktree", "add", "--detach", str(old), sha, cwd=repo)
        try:
            if (repo / ".venv").exists():
                (old / ".venv").symlink_to(repo / ".venv")
            for pair, side in order(times):
                where = old if side == "old" else repo
                result = subprocess.run(command, cwd=where, capture_output=True, text=True)
                output = result.stdout + result.stderr
                path = out / f"{pair}-{side}.txt"
                path.write_text(output)
                lines = [line for line in output.splitlines() if pattern.search(line)]
                records.append({"pair": pair, "side": side, "status": result.returncode, "lines": lines,
                                "file": path})
                echo(f"[{pair} {side}{' ' + sha[:10] if side == 'old' else ''}] exit {result.returncode}")
                for line in lines:
                    echo(f"    {line}")
        finally:
            _git("worktree", "remove", "--force", str(old), cwd=repo)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench alternate", description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the earlier revision (a commit, tag or branch)")
    parser.add_argument("--times", type=int, default=4, help="pairs of runs (default 4)")
    parser.add_argument("--grep", default=DEFAULT_GREP, help="lines of each run's output to print (a regex)")
    parser.add_argument("--out", type=Path, help="folder for every run's output (default: a new temporary one)")
    parser.usage = "python -m bench alternate REVISION [--times N] [--grep REGEX] [--out FOLDER] -- COMMAND ..."
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:cut]), argv[cut + 1:]  # the command's own options stay its own
    if not command:
        parser.error("give the command to run after --")
    if args.times < 1:
        parser.error("--times must be at least 1")
    out = args.out or Path(tempfile.mkdtemp(prefix="encounters-alternate-out-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"outputs in {out}")
    records = alternate(args.revision, command, times=args.times, grep=args.grep, out=out, repo=REPO)
    failed = [f"{r['pair']}-{r['side']}" for r in records if r["status"] != 0]
    if failed:
        print(f"runs that exited non-zero: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
