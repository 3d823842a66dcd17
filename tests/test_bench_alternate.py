"""bench/alternate.py: a command run in turns on an earlier revision (a worktree) and on the checkout."""
import subprocess
import sys

import pytest

from bench import alternate


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A repository whose first commit says "version 1" and whose working tree (committed) says "version 2"."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "version.py").write_text("print('version 1')\nprint('noise')\n")
    _git(repo, "add", "version.py")
    _git(repo, "commit", "-q", "-m", "one")
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    (repo / "version.py").write_text("print('version 2')\nprint('noise')\nraise SystemExit(3)\n")
    _git(repo, "commit", "-q", "-am", "two")
    return repo, first


def test_the_order_is_old_new_then_new_old():
    assert alternate.order(3) == [(1, "old"), (1, "new"), (2, "new"), (2, "old"), (3, "old"), (3, "new")]


def test_each_side_runs_its_own_code_in_turns_and_the_worktree_is_removed(repo, tmp_path):
    repo, first = repo
    out = tmp_path / "out"
    out.mkdir()
    echoed = []
    records = alternate.alternate(first, [sys.executable, "version.py"], times=2, grep=r"^version", out=out,
                                  repo=repo, echo=echoed.append)
    assert [(r["pair"], r["side"]) for r in records] == [(1, "old"), (1, "new"), (2, "new"), (2, "old")]
    for record in records:
        expected = "version 1" if record["side"] == "old" else "version 2"
        assert record["lines"] == [expected]  # only the lines the pattern picks
        assert record["status"] == (0 if record["side"] == "old" else 3)
        assert record["file"].read_text().splitlines()[:2] == [expected, "noise"]  # the whole output is kept
    assert "    version 1" in echoed and "    version 2" in echoed
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1  # only the checkout itself is left


def test_main_reports_failed_runs_and_asks_for_a_command(repo, tmp_path, capsys, monkeypatch):
    repo, first = repo
    monkeypatch.setattr(alternate, "REPO", repo)
    status = alternate.main([first, "--times", "1", "--out", str(tmp_path / "o"), "--", sys.executable,
                             "version.py"])
    assert status == 1
    assert "runs that exited non-zero: 1-new" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        alternate.main([first])
    assert "give the command to run after --" in capsys.readouterr().err
