"""Everything Qt: the window, the training thread and the panels. A thin layer over vaestudio.core."""
