"""The apprenticeship levy account of levy-paying providers, and levy at risk for coordinators (issue 5/6)."""
