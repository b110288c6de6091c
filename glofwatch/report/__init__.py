"""Reports: the comparison table against the study and the self-contained HTML report."""
