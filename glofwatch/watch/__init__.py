"""``glofwatch watch``: a locked, resumable loop over areas of interest: fetch new dates, map, track, alert."""
