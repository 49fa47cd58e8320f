"""Synthetic Fink lakes for the demo: archived nights of ZTF alerts (`ztf`) or Rubin alerts in
Fink's Rubin schema (`rubin`), written and indexed by `make.make_demo_lake` (`archive`: what a
demo lake holds and where), tonight's live night streamed micro-batch by micro-batch (`live`),
and the quickstart notebook put beside them (`notebook`)."""
