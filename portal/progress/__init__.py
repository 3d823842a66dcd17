"""Progress toward four, leavers' destinations and providers' impact (issue 4/6)."""
