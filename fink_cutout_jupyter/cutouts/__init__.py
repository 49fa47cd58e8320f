"""Cutouts: an alert's location to its proven stamps, decoded and rendered."""
