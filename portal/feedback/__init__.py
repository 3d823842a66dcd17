"""The public weekly feedback form of an internship placement, reached by its link (issue 5/6)."""
