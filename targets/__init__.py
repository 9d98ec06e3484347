"""kvc targets: cpu (the portable reference), cuda, amx, pim. One folder each,
with the target's pipeline in one readable place."""
