"""Lake changes: dated inventories -> overlap graph -> stable lake ids -> tracks with area uncertainty and status."""
