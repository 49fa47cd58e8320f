"""The alert index: where every alert is, from files kept on the lake itself."""
