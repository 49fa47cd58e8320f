"""Synthetic Fink lakes for the demo: archived nights of ZTF (`ztf`) or Rubin (`rubin`) alerts
written and indexed (`make.make_demo_lake`), a live night streamed micro-batch by micro-batch
(`live`), and the quickstart notebook put beside them (`notebook`)."""
