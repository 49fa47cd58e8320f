"""Notebook widgets: the cutout viewer, light curve and vetting gallery."""
