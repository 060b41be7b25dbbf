"""``make bench``: performance figures, each as a ratio against a baseline measured in the
same run (numbers from a shared 2-core machine only hold side by side)."""
