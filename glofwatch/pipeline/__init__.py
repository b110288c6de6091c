"""The early-warning chain over dated scenes: map each date, track the lakes, score hazard, issue alerts."""
