"""Lake changes: dated inventories -> overlap graph -> stable lake ids -> tracks with area uncertainty and status;
and the regional inventory, each lake once over overlapping tiles (:mod:`.regional`)."""
